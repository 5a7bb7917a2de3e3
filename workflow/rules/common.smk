# Paths and helpers shared by the rules.
ARCHIVE = "data/raw/cifar10.tar.gz"
SAMPLE = "data/sample/cifar10-sample.tar.gz"
PREPARED = {"vgg": "data/prepared/cifar10.npz", "dln": "data/prepared/dln.npz"}
# Scripts read params.yaml themselves; --scale carries a `--config scale=...` override.
ARGS = f"--params {PARAMS_FILE} --scale {P.scale}"


def prepared_for(wildcards):
    """The data of a run's model."""
    return PREPARED[P.run(wildcards.run).model]


def run_digest(wildcards):
    """Changes iff the params sections this run's training depends on change."""
    return P.digest(*P.run_sections(P.run(wildcards.run)))
