"""bnpipe: a reproducible pipeline for "How Does Batch Normalization Help Optimization?"."""

__version__ = "0.1.0"
