REPORT = "reports/index.html"


rule analyze:
    input:
        expand(f"{RUN_DIR}/run.json", run=RUN_IDS),
        expand(f"{RUN_DIR}/history.csv", run=RUN_IDS),
    output:
        runs="results/runs.csv",
        curves="results/curves.csv",
        metrics="results/metrics.json",
    log:
        "results/logs/analyze.log",
    conda:
        ENV
    params:
        args=ARGS,
        digest=P.digest("analyze", "grid"),
        run_dirs=expand(RUN_DIR, run=RUN_IDS),
    shell:
        "python workflow/scripts/analyze.py {params.args} --runs {params.run_dirs} --out results 2> {log}"


rule report:
    input:
        rules.analyze.output,
        probes=expand(PROBES, run=RUN_IDS),
    output:
        REPORT,
    log:
        "results/logs/report.log",
    conda:
        ENV
    params:
        args=ARGS,
        digest=P.digest(),
        run_dirs=expand(RUN_DIR, run=RUN_IDS),
    shell:
        "python workflow/scripts/report.py {params.args} --results results --probes {input.probes}"
        " --runs {params.run_dirs} --out {output} 2> {log}"
