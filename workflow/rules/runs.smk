import os

RUN_DIR = "results/runs/{run}"
PROBES = "results/probes/{run}.csv"


rule train:
    input:
        prepared_for,
    output:
        record=f"{RUN_DIR}/run.json",
        history=f"{RUN_DIR}/history.csv",
        final=f"{RUN_DIR}/final.pt",
        snapshots=directory(f"{RUN_DIR}/snapshots"),
    log:
        "results/logs/train/{run}.log",
    conda:
        ENV
    threads: RUNTIME["threads"]
    resources:
        gpu=1,
    params:
        args=ARGS,
        digest=run_digest,
        out=lambda w, output: os.path.dirname(output.record),
    shell:
        "python workflow/scripts/train.py {params.args} --run {wildcards.run} --prepared {input}"
        " --out {params.out} --threads {threads} 2> {log}"


rule probe:
    input:
        prepared=prepared_for,
        record=f"{RUN_DIR}/run.json",
        snapshots=f"{RUN_DIR}/snapshots",
    output:
        PROBES,
    log:
        "results/logs/probe/{run}.log",
    conda:
        ENV
    threads: RUNTIME["threads"]
    resources:
        gpu=1,
    params:
        args=ARGS,
        digest=P.digest("probe"),
        run_dir=lambda w, input: os.path.dirname(input.record),
    shell:
        "python workflow/scripts/probe.py {params.args} --run {wildcards.run} --prepared {input.prepared}"
        " --run-dir {params.run_dir} --out {output} --threads {threads} 2> {log}"


rule train_all:
    input:
        expand(f"{RUN_DIR}/run.json", run=RUN_IDS),


rule probe_all:
    input:
        expand(PROBES, run=RUN_IDS),
