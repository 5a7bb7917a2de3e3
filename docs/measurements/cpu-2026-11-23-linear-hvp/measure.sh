#!/bin/bash
# Probe suite cost (probe_cost.py, paper probe settings, 1 thread) on the cpu scale's
# seed-0 runs trained with the paper protocol's 32 snapshots: the new code (worktree at
# 6cf3552) on all four runs, and the code before it (5865cbd) on the two DLNs.
set -u
for round in 1 2; do
  for job in "/work/wt vgg-batchnorm-lr0.1-s0" "/work/wt vgg-standard-lr0.1-s0" \
             "/work/wt dln-batchnorm-lr1e-06-s0" "/work/wt dln-standard-lr1e-06-s0" \
             "/work/wt-old dln-batchnorm-lr1e-06-s0" "/work/wt-old dln-standard-lr1e-06-s0"; do
    set -- $job; wt=$1; id=$2
    echo "== probe_cost round $round $id at $(git -C $wt log --format=%h -1) $(date +%T)"
    WT=$wt /work/pc/pc.sh $id
  done
done
echo "== done $(date +%T)"
