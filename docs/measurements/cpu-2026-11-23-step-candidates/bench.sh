# Benchmark runs back to back, nothing else running (from the repository root).
# PREPARED: the cpu scale's cifar10.npz (workflow/scripts/prepare.py --scale cpu).
for i in 1 2 3; do
  echo "== bench $i $(date +%H:%M:%S)"
  .venv/bin/python workflow/scripts/bench.py --prepared "$PREPARED" --repeats 5 --jobs 1 --out /tmp/bench_s26_$i.json
done
