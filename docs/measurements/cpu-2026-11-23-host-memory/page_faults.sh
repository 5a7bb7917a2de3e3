# Ten processes per mode, alternating; run from the repository root.
for i in $(seq 10); do
  .venv/bin/python docs/measurements/cpu-2026-11-23-host-memory/page_faults.py kept
  .venv/bin/python docs/measurements/cpu-2026-11-23-host-memory/page_faults.py default
done
