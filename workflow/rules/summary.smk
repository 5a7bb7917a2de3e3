REPORT = PATHS.report
CLAIMS = PATHS.claims
FIGURES = PATHS.figures
BENCH = layout.BENCH  # written by `make bench`; the report shows it when present


rule analyze:
    input:
        expand(f"{RUN_DIR}/run.json", run=RUN_IDS),
        expand(f"{RUN_DIR}/history.csv", run=RUN_IDS),
        probes=expand(PROBES, run=RUN_IDS),
        long_arms=LONG_ARMS,  # those `make long-arm` made: the claims cite them
        width_checks=[f"{d}/run.json" for d in WIDTH_CHECKS],  # `make width-check`'s
    output:
        **{name: PATHS.table(name) for name in layout.ANALYSIS_TABLES},
        metrics=PATHS.metrics,
        plots=directory(PATHS.plots),
        claims=CLAIMS,
    log:
        PATHS.log("analyze"),
    conda:
        ENV
    params:
        args=ARGS,
        digest=P.digest("analyze", "grid"),
        code=code_digest("analyze"),
        run_dirs=expand(RUN_DIR, run=RUN_IDS),
        width_checks=WIDTH_CHECKS,
        results=lambda w, output: os.path.dirname(output.metrics),
    shell:
        "python workflow/scripts/analyze.py {params.args} --runs {params.run_dirs}"
        " --probes {input.probes} --out {params.results} --claims {output.claims}"
        " --long-arm {input.long_arms} --width-check {params.width_checks} 2> {log}"


rule report:
    input:
        rules.analyze.output,
        metrics=PATHS.metrics,
        claims=CLAIMS,
        probes=expand(PROBES, run=RUN_IDS),
        bench=[BENCH] if os.path.exists(BENCH) else [],
    output:
        html=REPORT,
        figures=directory(FIGURES),
    log:
        PATHS.log("report"),
    conda:
        ENV
    params:
        args=ARGS,
        digest=P.digest(),
        code=code_digest("report"),
        run_dirs=expand(RUN_DIR, run=RUN_IDS),
        results=lambda w, input: os.path.dirname(input.metrics),
        bench=f"--bench {BENCH}" if os.path.exists(BENCH) else "",
    shell:
        "python workflow/scripts/report.py {params.args} --results {params.results}"
        " --claims {input.claims} --probes {input.probes} --runs {params.run_dirs}"
        " --out {output.html} --figures {output.figures}"
        " {params.bench} 2> {log}"
