#!/bin/bash
# Time the probe suite (probe_cost.py, paper probe settings, 1 thread) on the cpu scale's
# seed-0 runs: VGG with 32 snapshots (the paper protocol's count; P.yaml) and with the cpu
# scale's 16 (P16.yaml, runs of the previous measurement), the DLN with its 32.
set -u
cd /work/wt; export PYTHONPATH=/work/wt/src
PY=/work/main/.venv/bin/python; C=/work/pc32; O=/work/pc; PREP=/work/cpurun3/data/prepared

for round in 1 2; do
  for job in "vgg-batchnorm-lr0.1-s0 $C P.yaml" "vgg-standard-lr0.1-s0 $C P.yaml" \
             "vgg-batchnorm-lr0.1-s0 $O P16.yaml" "vgg-standard-lr0.1-s0 $O P16.yaml" \
             "dln-batchnorm-lr1e-06-s0 $O P.yaml" "dln-standard-lr1e-06-s0 $O P.yaml"; do
    set -- $job; id=$1; dir=$2; pf=$3
    case $id in dln*) npz=$PREP/dln.npz;; *) npz=$PREP/cifar10.npz;; esac
    echo "== probe_cost round $round $id ($dir/runs, $pf) $(date +%T)"
    $PY workflow/scripts/probe_cost.py --params $C/$pf --run $id --prepared $npz --run-dir $dir/runs/$id --snapshot-dir $dir/snapshots/$id --snapshots 0 --threads 1 2>/dev/null
  done
done
echo "== done $(date +%T)"
