# The benchmark with its default 15 blocks per mode (a 95% interval for each ratio),
# twice back to back, nothing else running (from the repository root, PREPARED set).
for i in 1 2; do
  echo "== bench15 $i $(date +%H:%M:%S)"
  .venv/bin/python workflow/scripts/bench.py --prepared "$PREPARED" --jobs 1 --out docs/measurements/cpu-2026-11-23-step-candidates/bench15_$i.json
done
