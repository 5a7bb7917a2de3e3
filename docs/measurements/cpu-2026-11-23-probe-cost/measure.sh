#!/bin/bash
# train the cpu scale's seed-0 runs with the paper probe settings, then time the probe suite
# P: params.yaml with scale: cpu and the cpu scale's probe: overrides removed (the paper probe settings)
# PREPARED: a folder with the cpu scale's prepared cifar10.npz and dln.npz; OUT: any empty folder
set -u
cd "$(git rev-parse --show-toplevel)"
PY=.venv/bin/python
for id in vgg-batchnorm-lr0.1-s0 vgg-standard-lr0.1-s0 dln-batchnorm-lr1e-06-s0 dln-standard-lr1e-06-s0; do
  case $id in dln*) npz=$PREPARED/dln.npz;; *) npz=$PREPARED/cifar10.npz;; esac
  echo "== $id $(date +%T)"
  /usr/bin/time -f "train %e s" $PY workflow/scripts/train.py --params $P --run $id --prepared $npz --out $OUT/runs/$id --snapshots $OUT/snapshots/$id --threads 1 2>$OUT/train-$id.err
  tail -1 $OUT/train-$id.err
done
for round in 1 2; do
for id in vgg-batchnorm-lr0.1-s0 vgg-standard-lr0.1-s0 dln-batchnorm-lr1e-06-s0 dln-standard-lr1e-06-s0; do
  case $id in dln*) npz=$PREPARED/dln.npz;; *) npz=$PREPARED/cifar10.npz;; esac
  echo "== probe_cost round $round $id $(date +%T)"
  $PY workflow/scripts/probe_cost.py --params $P --run $id --prepared $npz --run-dir $OUT/runs/$id --snapshot-dir $OUT/snapshots/$id --snapshots 0 --threads 1 2>/dev/null
done
done
echo "== done $(date +%T)"
