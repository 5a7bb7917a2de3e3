# From the repository root, nothing else running; PREPARED: the cpu scale's cifar10.npz.
D=docs/measurements/cpu-2026-11-23-step-limits
for isa in ALL AVX2; do
  echo "== conv_parts.py, ONEDNN_MAX_CPU_ISA=$isa"
  ONEDNN_MAX_CPU_ISA=$isa .venv/bin/python $D/conv_parts.py
done
for i in 1 2; do
  for isa in ALL AVX2; do
    echo -n "== isa_step.py standard, ONEDNN_MAX_CPU_ISA=$isa: "
    ONEDNN_MAX_CPU_ISA=$isa .venv/bin/python $D/isa_step.py "$PREPARED" standard
  done
done
echo "== compile_ab.py standard"
.venv/bin/python $D/compile_ab.py "$PREPARED" standard 2>&1 | grep -v -i warn
