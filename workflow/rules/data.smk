

rule download:
    output:
        archive=ARCHIVE,
        record=f"{ARCHIVE}.json",
    log:
        "data/raw/download.log",
    conda:
        ENV
    params:
        args=ARGS,
        local=f"--local {RUNTIME['cifar_archive']}" if RUNTIME["cifar_archive"] else "",
        code=code_digest("download"),
    shell:
        "python workflow/scripts/download.py {params.args} --out {output.archive} {params.local}"
        " 2> {log}"


rule prepare:
    input:
        SAMPLE if P.data.source == "sample" else ARCHIVE,
    output:
        arrays=PREPARED["vgg"],
        record=PREPARED["vgg"].replace(".npz", ".json"),
    log:
        PATHS.log("prepare"),
    conda:
        ENV
    params:
        args=ARGS,
        digest=P.digest("data"),
        code=code_digest("prepare"),
    shell:
        "python workflow/scripts/prepare.py {params.args} --archive {input} --out {output.arrays}"
        " 2> {log}"


rule prepare_dln:
    output:
        arrays=PREPARED["dln"],
        record=PREPARED["dln"].replace(".npz", ".json"),
    log:
        PATHS.log("prepare_dln"),
    conda:
        ENV
    params:
        args=ARGS,
        digest=P.digest("dln"),
        code=code_digest("prepare"),
    shell:
        "python workflow/scripts/prepare_dln.py {params.args} --out {output.arrays} 2> {log}"


rule prepare_all:
    input:
        [PREPARED[model] for model in P.grid.models],
