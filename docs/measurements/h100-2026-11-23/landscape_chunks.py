"""Landscape probes' cost on this device by chunk_size (vmapped parameter sets per pass)."""

import dataclasses
import sys
import tempfile
from pathlib import Path

import torch

from bnpipe.cli import load_scale
from bnpipe.params import RunSpec
from bnpipe.probes.cost import probe_cost
from bnpipe.train import train_run

prepared = Path(sys.argv[1])
device = "cuda" if torch.cuda.is_available() else "cpu"
params = load_scale(Path("params.yaml"), sys.argv[2] if len(sys.argv) > 2 else "paper")
short = dataclasses.replace(
    params,
    train=dataclasses.replace(
        params.train, steps=20, snapshots=3, eval_every=20, checkpoint_every=20
    ),
)
spec = RunSpec("vgg", "batchnorm", 0.1, 0)
w = Path(tempfile.mkdtemp())
train_run(spec, short, prepared, w / "run", w / "snap", device, progress=False)
for chunk in (16, 8, 4, 2, 1, 16):
    p = dataclasses.replace(
        short,
        probe=dataclasses.replace(
            short.probe, chunk_size=chunk, run=["landscape", "landscape_random"]
        ),
    )
    t = probe_cost(spec, p, prepared, w / "run", w / "snap", 3, device)
    rows = {(r.probe, r.method): r.train_steps for r in t.itertuples()}
    print(
        f"chunk {chunk:2d}: step {1e3 * t.attrs['train_step_s']:.2f} ms; "
        + ", ".join(f"{k[0]}/{k[1][:3]} {v:.1f}" for k, v in sorted(rows.items())),
        flush=True,
    )
