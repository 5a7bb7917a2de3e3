# make long-arm: the scale's long_arm.runs trained long_arm.steps steps, each with the
# length after which a run has settled (workflow/scripts/long_arm.py). Not part of `all`:
# analyze reads what exists (LONG_ARMS), so the claims can cite the requirement.
LONG_ARM = PATHS.long_arm
LONG_ARMS = [
    path for path in expand(LONG_ARM, run=P.long_arm.runs) if os.path.exists(path)
]


rule long_arm:
    input:
        prepared_for,
    output:
        LONG_ARM,
    log:
        PATHS.log("long_arm/{run}"),
    conda:
        ENV
    threads: RUNTIME["threads"]
    resources:
        gpu=1,
    params:
        args=ARGS,
        digest=lambda w: P.digest("long_arm", "analyze") + P.run_digest(P.run(w.run)),
        code=code_digest("train", extra=extension_files(P.extensions)),
        out=lambda w, output: os.path.dirname(output[0]),
    shell:
        "python workflow/scripts/long_arm.py {params.args} --run {wildcards.run}"
        " --prepared {input} --out {params.out} --threads {threads} 2> {log}"


rule long_arm_all:
    input:
        expand(LONG_ARM, run=P.long_arm.runs),
