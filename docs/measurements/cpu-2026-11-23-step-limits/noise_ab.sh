# From the repository root, nothing else running; PREPARED: the cpu scale's cifar10.npz.
for variant in noisy_batchnorm noisy_standard noisy_batchnorm noisy_standard; do
  PYTHONPATH=docs/measurements/cpu-2026-11-23-step-limits .venv/bin/python docs/measurements/cpu-2026-11-23-step-limits/noise_ab.py "$PREPARED" "$variant"
done
