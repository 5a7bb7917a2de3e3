# Transparent huge pages for glibc's heap (GLIBC_TUNABLES=glibc.malloc.hugetlb=1; this
# kernel's THP mode is madvise) against the default, alternating fresh processes.
# From the repository root, PREPARED set.
dir=docs/measurements/cpu-2026-11-23-step-candidates
for i in $(seq 1 10); do
  echo "default  $(.venv/bin/python $dir/step_ms.py)"
  echo "hugetlb  $(GLIBC_TUNABLES=glibc.malloc.hugetlb=1 .venv/bin/python $dir/step_ms.py)"
done
