cd /work/main
for i in 1 2; do
  echo "== bench $i $(date +%T)"
  .venv/bin/python workflow/scripts/bench.py --prepared /work/pc/prep/cifar10.npz --repeats 5 --jobs 1 --out /work/pc/bench/bench$i.json 2>&1 | grep -v Warn | tail -30
done
echo "== done $(date +%T)"
