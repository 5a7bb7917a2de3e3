# make width-check: the scale's width_check.runs trained as in the grid at each of
# width_check.widths (workflow/scripts/width_check.py). Not part of `all`: analyze reads
# what exists (WIDTH_CHECKS), and claim 3's panel re-judges its gap at each width.
WIDTH_CHECK = PATHS.width_check  # a run folder, complete once run.json exists
WIDTH_CHECK_ALL = expand(
    f"{WIDTH_CHECK}/run.json",
    width=[f"{w:g}" for w in P.width_check.widths],
    run=P.width_check.runs,
)
WIDTH_CHECKS = [os.path.dirname(p) for p in WIDTH_CHECK_ALL if os.path.exists(p)]


wildcard_constraints:
    width=r"[0-9.]+",


rule width_check:
    input:
        prepared_for,
    output:
        f"{WIDTH_CHECK}/run.json",
    log:
        PATHS.log("width_check/w{width}/{run}"),
    conda:
        ENV
    threads: RUNTIME["threads"]
    resources:
        gpu=1,
    params:
        args=ARGS,
        digest=lambda w: P.run_digest(P.run(w.run)),
        code=code_digest("train", extra=extension_files(P.extensions)),
        out=lambda w, output: os.path.dirname(os.path.dirname(output[0])),
    shell:
        "python workflow/scripts/width_check.py {params.args} --run {wildcards.run}"
        " --width {wildcards.width} --prepared {input} --out {params.out}"
        " --threads {threads} 2> {log}"


rule width_check_all:
    input:
        WIDTH_CHECK_ALL,
