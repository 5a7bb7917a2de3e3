# bnpipe: download -> prepare -> train (per run) -> probe (per run) -> analyze -> report
#
#   snakemake --cores all --resources gpu=2     the whole DAG (default target: the report)
#   snakemake --config scale=paper ...          another scale (params.yaml picks one)
#   snakemake --config cifar_archive=PATH ...   a local CIFAR-10 archive instead of the URL
# Paths live here and in workflow/rules/ only; scripts get them as arguments.
import os
import sys

from bnpipe.cli import committed_params
from bnpipe.params import (
    ParamsError,
    compose,
    load_params,
    protocol_for,
    read_yaml,
    shadowed_changes,
)
from bnpipe.step_code import (  # a code edit reruns its jobs
    code_digest,
    extension_files,
    project_fingerprint,
)

PARAMS_FILE = "params.yaml"  # the experiment: its scale, and any protocol key it sets
PROTOCOL_FILE = protocol_for(PARAMS_FILE)  # workflow/protocol.yaml: the design
ENV = "../envs/bnpipe.yaml"  # relative to workflow/rules/; for --use-conda only

# Jobs' `python` is the interpreter running Snakemake (the project's environment).
os.environ.update(
    PATH=os.pathsep.join([os.path.dirname(sys.executable), os.getenv("PATH", "")])
)


configfile: PARAMS_FILE


# Runtime settings: how to run, not what the experiment is (never in params.yaml).
RUNTIME = {
    "cifar_archive": os.environ.get(
        "BNPIPE_CIFAR_ARCHIVE", ""
    ),  # local archive, or "" = URL
    "threads": 1,  # CPU threads per training or probe job
    # auto | true | false: keep snapshots once probed (docs/performance.md "Disk")
    "keep_snapshots": os.environ.get("BNPIPE_KEEP_SNAPSHOTS", "auto"),
    # DVC's stage passes the code fingerprint dvc.yaml carries; a stale one stops here
    "fingerprint": "",
}
for key in list(config):
    if key in RUNTIME:
        RUNTIME[key] = config.pop(key)
if RUNTIME["fingerprint"] and RUNTIME["fingerprint"] != project_fingerprint("."):
    sys.exit(
        f"dvc.yaml carries the code fingerprint {RUNTIME['fingerprint']}, but the code, the "
        f"protocol or the workflow changed since ({project_fingerprint('.')}): run "
        "`bnpipe fingerprint --write` (make run and make cpu do), so that DVC records "
        "the code that makes the outputs"
    )

# Validated here, before any job starts: a bad key stops everything with its name.
# A key written twice stops here (`configfile` keeps the last). So does a key of the
# protocol file changed since the last commit that the active scale overrides: it would
# be shown as set but never used (params.yaml's keys win over the scale: no such trap).
try:
    read_yaml(PARAMS_FILE)
    RAW = compose(read_yaml(PROTOCOL_FILE), config)
    P = load_params(RAW)
    committed = committed_params(PROTOCOL_FILE)
    if committed is not None and shadowed_changes(RAW, committed):
        raise ParamsError("; ".join(shadowed_changes(RAW, committed)))
except ParamsError as err:
    sys.exit(f"Invalid params ({PARAMS_FILE}, {PROTOCOL_FILE.name} or --config): {err}")
RUN_IDS = [spec.id for spec in P.runs()]


wildcard_constraints:
    run="|".join(RUN_IDS),


# Cheap or networked jobs run where Snakemake runs, never on a (possibly offline) compute
# node: the download, data preparation, analysis and the report. Training and probing go
# to the cluster, each asking for one GPU (resources gpu=1 -> sbatch --gpus=1).
localrules:
    all,
    download,
    prepare,
    prepare_dln,
    prepare_all,
    train_all,
    probe_all,
    long_arm_all,
    width_check_all,
    analyze,
    report,


include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/runs.smk"
include: "workflow/rules/long_arm.smk"
include: "workflow/rules/width_check.smk"
include: "workflow/rules/summary.smk"


rule all:
    default_target: True
    input:
        REPORT,
