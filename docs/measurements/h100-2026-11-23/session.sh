#!/bin/bash
# The H100 session of 2026-11-23, stage by stage, from the repository root:
#   ARCHIVE=path/to/cifar10-jpeg.tar.gz OUT=out bash docs/measurements/h100-2026-11-23/session.sh STAGE...
# Stages as run: (env prep smoke run bench) (prep chunks benchc) (prep bench run); see README.md here.
set -u
export PYTHONPATH=$PWD/src PYTHONUNBUFFERED=1
W=/tmp/w; mkdir -p $W $OUT
RUN=vgg-batchnorm-lr0.1-s0
say() { echo "== $(date +%T) $*"; }
for stage in "$@"; do
  say "stage $stage"
  case $stage in
  env)
    { nvidia-smi; nvidia-smi -q -d CLOCK,POWER | head -60; nproc; free -g;
      python3 -c "import torch,sys;print(sys.version);print(torch.__version__, torch.version.cuda, torch.backends.cudnn.version(), torch.cuda.get_device_name())"; } > $OUT/env.txt 2>&1
    tail -3 $OUT/env.txt ;;
  prep)  # full CIFAR-10, in the background (single-threaded JPEG decoding)
    ( /usr/bin/time -v python3 workflow/scripts/prepare.py --scale paper \
        --archive ${ARCHIVE:-.carry/cifar10-jpeg.tar.gz} --out $W/cifar10.npz > $W/prep.log 2>&1;
      echo "rc $?" >> $W/prep.log ) & ;;
  smoke)  # the GPU path end to end at the smoke scale: prepare, train, probe, bench
    python3 workflow/scripts/prepare.py --scale smoke --archive data/sample/cifar10-sample.tar.gz --out $W/smoke.npz \
    && python3 workflow/scripts/train.py --scale smoke --run $RUN --prepared $W/smoke.npz --out $W/smoke/run --snapshots $W/smoke/snap \
    && python3 workflow/scripts/probe.py --scale smoke --run $RUN --prepared $W/smoke.npz --run-dir $W/smoke/run --snapshots $W/smoke/snap --out $OUT/smoke-probes.csv \
    && grep -o '"device": "[^"]*"' $W/smoke/run/run.json \
    && python3 workflow/scripts/bench.py --scale smoke --steps 3 --repeats 1 --jobs 1 2 --out $OUT/bench-smoke.json 2>&1 | tail -25
    say "smoke rc ${PIPESTATUS[0]}" ;;
  bench)
    python3 workflow/scripts/bench.py --scale paper --steps 20 --repeats 5 --jobs 1 2 4 --out $OUT/bench-paper.json 2>&1 | tee $OUT/bench-paper.log | tail -40 ;;
  benchc)
    python3 workflow/scripts/bench.py --scale paper --steps 20 --repeats 5 --jobs 1 2 4 --variants standard batchnorm --compile --out $OUT/bench-paper.json 2>&1 | tee $OUT/bench-paper.log | tail -25 ;;
  chunks)
    while ! grep -q '^rc' $W/prep.log 2>/dev/null; do sleep 2; done
    python3 docs/measurements/h100-2026-11-23/landscape_chunks.py $W/cifar10.npz paper 2>&1 | grep -v Warn | tee $OUT/chunks.log ;;
  run)  # one paper-protocol run: train 15,000 steps, probe its 32 snapshots
    while ! grep -q '^rc' $W/prep.log 2>/dev/null; do sleep 2; done; cat $W/prep.log | grep -E "train|Elapsed|Maximum|rc"
    /usr/bin/time -v python3 workflow/scripts/train.py --scale paper --run $RUN --prepared $W/cifar10.npz --out $W/run --snapshots $W/snap > $OUT/train.log 2>&1
    tail -5 $OUT/train.log; cp $W/run/run.json $W/run/history.csv $OUT/
    /usr/bin/time -v python3 workflow/scripts/probe.py --scale paper --run $RUN --prepared $W/cifar10.npz --run-dir $W/run --snapshots $W/snap --out $OUT/probes.csv > $OUT/probe.log 2>&1
    tail -5 $OUT/probe.log ;;
  esac
done
say done
