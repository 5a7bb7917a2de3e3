"""bnpipe: a reproducible pipeline for "How Does Batch Normalization Help Optimization?".

The packages follow the pipeline, and each imports only the ground floor and the stages
before it: data -> models -> training -> probes -> analysis -> report; bench sits beside
report. The ground floor (params, hyperparams, variants, probe_registry, files, layout,
provenance, host_memory, step_code, devices, cli) imports no stage. `bnpipe params --scale
NAME` prints a scale's hyperparameters.
"""

__version__ = "0.1.0"
