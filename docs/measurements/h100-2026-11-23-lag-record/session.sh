#!/bin/bash
# Device-session stages: bash .carry/gpu2.sh STAGE... (env prep smoke det bench run)
set -u
export PYTHONPATH=$PWD/src PYTHONUNBUFFERED=1
W=/tmp/w; mkdir -p $W $OUT
RUN=vgg-batchnorm-lr0.1-s0
say() { echo "== $(date +%T) $*"; }
prep_wait() {
  if [ ! -f $W/prep.log ]; then bash $0 prep; fi
  while ! grep -q '^rc' $W/prep.log 2>/dev/null; do sleep 2; done; grep -E "Elapsed|^rc" $W/prep.log
}
for stage in "$@"; do
  say "stage $stage"
  case $stage in
  env)
    { nvidia-smi; nproc; free -g;
      python3 -c "import torch,sys;print(sys.version);print(torch.__version__, torch.version.cuda, torch.backends.cudnn.version(), torch.cuda.get_device_name())"; } > $OUT/env.txt 2>&1
    tail -2 $OUT/env.txt ;;
  prep)
    ( /usr/bin/time -v python3 workflow/scripts/prepare.py --scale paper \
        --archive .carry/cifar10-jpeg.tar.gz --out $W/cifar10.npz > $W/prep.log 2>&1;
      echo "rc $?" >> $W/prep.log ) & ;;
  smoke)
    python3 workflow/scripts/prepare.py --scale smoke --archive data/sample/cifar10-sample.tar.gz --out $W/smoke.npz \
    && python3 workflow/scripts/train.py --scale smoke --run $RUN --prepared $W/smoke.npz --out $W/smoke/run --snapshots $W/smoke/snap \
    && python3 workflow/scripts/probe.py --scale smoke --run $RUN --prepared $W/smoke.npz --run-dir $W/smoke/run --snapshots $W/smoke/snap --out $OUT/smoke-probes.csv 2>&1 | tail -3 \
    && grep -o '"device": "[^"]*"' $W/smoke/run/run.json; ls -la $W/smoke/run/
    say "smoke done" ;;
  det)
    for m in default default deterministic deterministic; do python3 .carry/determinism.py $W/smoke.npz $m 60 2>&1 | tail -2; done | tee $OUT/determinism.log ;;
  bench)
    python3 workflow/scripts/bench.py --scale paper --steps 20 --repeats 5 --jobs 1 --variants standard batchnorm --out $OUT/bench-paper.json 2>&1 | tee $OUT/bench-paper.log | tail -30 ;;
  run)
    prep_wait
    /usr/bin/time -v python3 workflow/scripts/train.py --scale paper --run $RUN --prepared $W/cifar10.npz --out $W/run --snapshots $W/snap > $OUT/train.log 2>&1
    tail -3 $OUT/train.log; grep -E "Elapsed|Maximum res" $OUT/train.log; cp $W/run/run.json $OUT/; ls -la $W/run
    /usr/bin/time -v python3 workflow/scripts/probe.py --scale paper --run $RUN --prepared $W/cifar10.npz --run-dir $W/run --snapshots $W/snap --out $OUT/probes.csv > $OUT/probe.log 2>&1
    tail -4 $OUT/probe.log; grep -E "Elapsed" $OUT/probe.log ;;
  cost)
    python3 workflow/scripts/probe_cost.py --scale paper --run $RUN --prepared $W/cifar10.npz --run-dir $W/run --snapshot-dir $W/snap --snapshots 0 2>&1 | grep -v Warn | tee $OUT/probe-cost.log | tail -22 ;;
  detrun)  # speed.deterministic end to end: two quick-scale BN runs each way, trained and probed
    sed 's/^  deterministic: false/  deterministic: true/' params.yaml > $W/Pdet.yaml; grep -n "deterministic:" $W/Pdet.yaml
    python3 workflow/scripts/prepare.py --scale quick --archive data/sample/cifar10-sample.tar.gz --out $W/quick.npz
    for i in det1 det2 def1 def2; do
      P=params.yaml; case $i in det*) P=$W/Pdet.yaml;; esac
      python3 workflow/scripts/train.py --params $P --scale quick --run $RUN --prepared $W/quick.npz --out $W/$i/run --snapshots $W/$i/snap > $W/$i.log 2>&1 || { tail $W/$i.log; exit 1; }
      python3 workflow/scripts/probe.py --params $P --scale quick --run $RUN --prepared $W/quick.npz --run-dir $W/$i/run --snapshots $W/$i/snap --out $W/$i/probes.csv >> $W/$i.log 2>&1 || { tail $W/$i.log; exit 1; }
      grep -a "snapshots;" $W/$i.log; python3 -c "import json,sys;r=json.load(open(sys.argv[1]));print(sys.argv[1], r['speed'], r['final'])" $W/$i/run/run.json
    done
    (cd $W && sha256sum */run/final.pt */snap/* */run/lag_moments.pt */probes.csv | sort -k2 -t/ ) | tee $OUT/detrun-sha256.txt
    cp $W/det1/probes.csv $OUT/det1-probes.csv; cp $W/def1/probes.csv $OUT/def1-probes.csv; cp $W/def2/probes.csv $OUT/def2-probes.csv ;;
  esac
done
say done
