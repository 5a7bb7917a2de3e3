# Paths (bnpipe.layout: one tree per scale) and helpers shared by the rules.
from bnpipe import layout

PATHS = layout.ScaleLayout(P.scale)
ARCHIVE = layout.ARCHIVE
SAMPLE = layout.SAMPLE
PREPARED = {model: PATHS.prepared(model) for model in ("vgg", "dln")}
RUN_DIR = PATHS.run_dir
SNAPSHOTS = PATHS.snapshot_dir
PROBES = PATHS.probe_table
# Scripts read params.yaml themselves; --scale carries a `--config scale=...` override.
ARGS = f"--params {PARAMS_FILE} --scale {P.scale}"


def prepared_for(wildcards):
    """The data of a run's model."""
    return PREPARED[P.run(wildcards.run).model]


def run_digest(wildcards):
    """Changes iff what this run's training writes depends on changes (Params.run_digest)."""
    return P.run_digest(P.run(wildcards.run))
