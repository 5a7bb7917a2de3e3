#!/bin/bash
set -u
cd /work/main
PY=.venv/bin/python; OUT=/work/pc
for id in dln-batchnorm-lr1e-06-s0 dln-standard-lr1e-06-s0 vgg-batchnorm-lr0.1-s0 vgg-standard-lr0.1-s0; do
  case $id in dln*) npz=$OUT/prep/dln.npz;; *) npz=$OUT/prep/cifar10.npz;; esac
  echo "== $id $(date +%T)"
  /usr/bin/time -f "train %e s" $PY workflow/scripts/train.py --params $OUT/P.yaml --run $id --prepared $npz --out $OUT/runs/$id --snapshots $OUT/snapshots/$id --threads 1 2>$OUT/train-$id.err
  tail -1 $OUT/train-$id.err
done
echo "== done $(date +%T)"
