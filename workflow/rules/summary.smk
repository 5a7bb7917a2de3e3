REPORT = "reports/index.html"
CLAIMS = "reports/claims.json"
FIGURES = "reports/figures"
BENCH = (
    "reports/bench.json"  # written by `make bench`; the report shows it when present
)


rule analyze:
    input:
        expand(f"{RUN_DIR}/run.json", run=RUN_IDS),
        expand(f"{RUN_DIR}/history.csv", run=RUN_IDS),
        probes=expand(PROBES, run=RUN_IDS),
    output:
        runs="results/runs.csv",
        curves="results/curves.csv",
        probe_curves="results/probe_curves.csv",
        quantities="results/quantities.csv",
        summary="results/summary.csv",
        differences="results/differences.csv",
        correlations="results/ics_vs_performance.csv",
        metrics="results/metrics.json",
        plots=directory("results/plots"),
        claims=CLAIMS,
    log:
        "results/logs/analyze.log",
    conda:
        ENV
    params:
        args=ARGS,
        digest=P.digest("analyze", "grid"),
        code=code_digest("analyze"),
        run_dirs=expand(RUN_DIR, run=RUN_IDS),
    shell:
        "python workflow/scripts/analyze.py {params.args} --runs {params.run_dirs}"
        " --probes {input.probes} --out results --claims {output.claims} 2> {log}"


rule report:
    input:
        rules.analyze.output,
        claims=CLAIMS,
        probes=expand(PROBES, run=RUN_IDS),
        bench=[BENCH] if os.path.exists(BENCH) else [],
    output:
        html=REPORT,
        figures=directory(FIGURES),
    log:
        "results/logs/report.log",
    conda:
        ENV
    params:
        args=ARGS,
        digest=P.digest(),
        code=code_digest("report"),
        run_dirs=expand(RUN_DIR, run=RUN_IDS),
        bench=f"--bench {BENCH}" if os.path.exists(BENCH) else "",
    shell:
        "python workflow/scripts/report.py {params.args} --results results"
        " --claims {input.claims} --probes {input.probes} --runs {params.run_dirs}"
        " --out {output.html} --figures {output.figures}"
        " {params.bench} 2> {log}"
