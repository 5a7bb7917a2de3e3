#!/bin/bash
set -u
cd /work/main
PY=.venv/bin/python; OUT=/work/pc32; npz=/work/cpurun3/data/prepared/cifar10.npz
for id in vgg-batchnorm-lr0.1-s0 vgg-standard-lr0.1-s0; do
  echo "== $id $(date +%T)"
  /usr/bin/time -f "train %e s" $PY workflow/scripts/train.py --params $OUT/P.yaml --run $id --prepared $npz --out $OUT/runs/$id --snapshots $OUT/snapshots/$id --threads 1 2>$OUT/train-$id.err
  tail -1 $OUT/train-$id.err
done
echo "== done $(date +%T)"
