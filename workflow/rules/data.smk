ARCHIVE = "data/raw/cifar10.tar.gz"
SAMPLE = "data/sample/cifar10-sample.tar.gz"
PREPARED = "data/prepared/cifar10.npz"
# Scripts read params.yaml themselves; --scale carries a `--config scale=...` override.
ARGS = f"--params {PARAMS_FILE} --scale {P.scale}"


rule download:
    output:
        archive=ARCHIVE,
        record=f"{ARCHIVE}.json",
    log:
        "results/logs/download.log",
    conda:
        ENV
    params:
        args=ARGS,
        local=f"--local {RUNTIME['cifar_archive']}" if RUNTIME["cifar_archive"] else "",
    shell:
        "python workflow/scripts/download.py {params.args} --out {output.archive} {params.local}"
        " 2> {log}"


rule prepare:
    input:
        SAMPLE if P.data.source == "sample" else ARCHIVE,
    output:
        arrays=PREPARED,
        record=PREPARED.replace(".npz", ".json"),
    log:
        "results/logs/prepare.log",
    conda:
        ENV
    params:
        args=ARGS,
        digest=P.digest("data"),
    shell:
        "python workflow/scripts/prepare.py {params.args} --archive {input} --out {output.arrays}"
        " 2> {log}"
