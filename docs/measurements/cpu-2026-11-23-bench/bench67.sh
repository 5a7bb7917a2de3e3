cd /work/main
for i in 6 7; do
  echo "== bench $i $(date +%T)"
  .venv/bin/python workflow/scripts/bench.py --prepared /work/cpurun3/data/prepared/cifar10.npz --repeats 5 --jobs 1 --out /tmp/bench$i.json 2>&1 | grep -v Warn | tail -30
done
echo "== done $(date +%T)"
