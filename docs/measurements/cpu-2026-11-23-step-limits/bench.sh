# Two benchmark runs back to back, nothing else running (from the repository root).
for i in 1 2; do
  echo "== bench $i $(date +%H:%M:%S)"
  .venv/bin/python workflow/scripts/bench.py --prepared "$PREPARED" --repeats 5 --jobs 1 --out /tmp/bench_s25_$i.json
done
