import os

from bnpipe.training import schedule

# Snapshots are only the probes' input: dropped once probed unless kept (docs/performance.md "Disk").
KEEP_SNAPSHOTS = schedule.keep_snapshots(P, RUNTIME["keep_snapshots"])


rule train:
    input:
        prepared_for,
    output:
        record=f"{RUN_DIR}/run.json",
        history=f"{RUN_DIR}/history.csv",
        final=f"{RUN_DIR}/final.pt",
        lag_moments=f"{RUN_DIR}/{layout.LAG_RECORD}",
        snapshots=(
            directory(SNAPSHOTS) if KEEP_SNAPSHOTS else temp(directory(SNAPSHOTS))
        ),
    log:
        PATHS.log("train/{run}"),
    conda:
        ENV
    threads: RUNTIME["threads"]
    resources:
        gpu=1,
    params:
        args=ARGS,
        digest=run_digest,
        code=code_digest("train", extra=extension_files(P.extensions)),
        out=lambda w, output: os.path.dirname(output.record),
    shell:
        "python workflow/scripts/train.py {params.args} --run {wildcards.run} --prepared {input}"
        " --out {params.out} --snapshots {output.snapshots} --threads {threads} 2> {log}"


rule probe:
    input:
        prepared=prepared_for,
        record=f"{RUN_DIR}/run.json",
        lag_moments=f"{RUN_DIR}/{layout.LAG_RECORD}",
        snapshots=SNAPSHOTS,
    output:
        PROBES,
    log:
        PATHS.log("probe/{run}"),
    priority: 1  # a trained run's probes before the next training: its snapshots go sooner
    conda:
        ENV
    threads: RUNTIME["threads"]
    resources:
        gpu=1,
    params:
        args=ARGS,
        digest=P.digest("probe"),
        code=code_digest("probe", extra=extension_files(P.extensions)),
        run_dir=lambda w, input: os.path.dirname(input.record),
    shell:
        "python workflow/scripts/probe.py {params.args} --run {wildcards.run} --prepared {input.prepared}"
        " --run-dir {params.run_dir} --snapshots {input.snapshots} --out {output}"
        " --threads {threads} 2> {log}"


rule train_all:
    input:
        expand(f"{RUN_DIR}/run.json", run=RUN_IDS),


rule probe_all:
    input:
        expand(PROBES, run=RUN_IDS),
