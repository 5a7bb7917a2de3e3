"""Stage 4, probes: measurements taken on a run's snapshots, one tidy table per run.
Imports: the ground floor, data, models, training.

A probe is a small object with a `name` and a `measure(ctx)` that yields
(layer, metric, value) triples for one snapshot; the runner adds run and step, giving
rows (run, step, layer, probe, metric, value). Layers are numbered from 1 as in the
paper (#1 = the first conv); layer 0 stands for the whole network. Probes are called on
the snapshots in step order and may carry state from one to the next (moment shifts,
the sharpness probe's warm start).

  (the probe names, their factories and curve metrics: bnpipe.probe_registry)
  context.py   SnapshotContext (what a probe sees), Probe, the table's COLUMNS
  runner.py    every probe on every snapshot of a run -> results/probes/<id>.csv

  activations       activations.py  distributions of one unit, moment shifts (Figs. 1-2, 8)
  ics               ics.py          internal covariate shift, Definition 2.1
  landscape(_random) landscape.py   loss and gradient along the update (Sec. 3.1)
  sharpness         curvature.py    top Hessian eigenvalue vs 2 / lr
  theorem41         theory.py       both sides of Theorem 4.1 per BN layer, reduction factor
  clean_stats       clean_stats.py  test accuracy with BN statistics re-estimated, noise off
"""
