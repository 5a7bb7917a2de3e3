# Every measurement of this directory, one after another, nothing else running.
# From the repository root: PREPARED=<cpu scale cifar10.npz> bash docs/measurements/cpu-2026-11-23-step-candidates/run_all.sh
dir=docs/measurements/cpu-2026-11-23-step-candidates
py=.venv/bin/python
for c in relu_in_place conv_relu prenormalized previous_batch fused_sgd nchw_weights; do
  $py $dir/candidates_ab.py standard $c 30
done > $dir/candidates_ab.log 2>&1
$py $dir/batch_making.py > $dir/batch_making.log 2>&1
$py $dir/profile_step.py > $dir/profile_step.log 2>&1
$py $dir/onednn_primitives.py 2>&1 | grep "exec" | cut -d, -f4- > $dir/onednn_primitives.log
$py $dir/conv_backends.py > $dir/conv_backends.log 2>&1
$py $dir/peak.py > $dir/peak.log 2>&1
bash $dir/thp_ab.sh > $dir/thp_ab.log 2>&1
$py $dir/position.py standard 10 > $dir/position.log.new 2>&1  # the committed position.log also keeps an earlier run
