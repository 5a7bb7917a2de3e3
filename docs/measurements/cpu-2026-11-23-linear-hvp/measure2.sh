#!/bin/bash
# The BN VGG again (32 snapshots), two rounds, at the worktree's commit.
set -u
for round in 1 2; do
  for id in vgg-batchnorm-lr0.1-s0; do
    echo "== probe_cost round $round $id at $(git -C /work/wt log --format=%h -1) $(date +%T)"
    WT=/work/wt /work/pc/pc.sh $id
  done
done
echo "== done $(date +%T)"
