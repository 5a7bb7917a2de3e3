#!/bin/bash
# usage: pc.sh <run id> [params file]; prints probe_cost's table
cd ${WT:-/work/main}; export PYTHONPATH=${WT:-/work/main}/src
id=$1; pf=${2:-/work/pc/P.yaml}
case $id in dln*) npz=/work/pc/prep/dln.npz;; *) npz=/work/pc/prep/cifar10.npz;; esac
/work/main/.venv/bin/python workflow/scripts/probe_cost.py --params $pf --run $id --prepared $npz --run-dir /work/pc/runs/$id --snapshot-dir /work/pc/snapshots/$id --snapshots 0 --threads 1 2>/dev/null
