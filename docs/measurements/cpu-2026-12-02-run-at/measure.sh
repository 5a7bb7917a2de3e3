#!/usr/bin/env bash
# The cpu preset's narrowed groups (probe.run_at), seed 0 each, two jobs at once.
set -euo pipefail
cd /work/cpumeasure
export PYTHONPATH=/work/cpumeasure/src PATH=/work/main/.venv/bin:$PATH BNPIPE_GPU_COUNT=0
T="results/cpu/probes"
date -u
/usr/bin/time -v snakemake --cores 2 --config scale=cpu cifar_archive=/work/shared/data/cifar10-jpeg.tar.gz -- \
  $T/vgg-l1-lr0.1-s0.csv $T/vgg-l2-lr0.1-s0.csv $T/vgg-linf-lr0.1-s0.csv \
  $T/vgg-noisy_batchnorm-lr0.1-s0.csv $T/vgg-standard-lr0.5-s0.csv $T/vgg-batchnorm-lr0.5-s0.csv
date -u
