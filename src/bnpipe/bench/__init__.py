"""Beside the report: what the pipeline costs on this device. The training step against
a plain PyTorch loop and concurrent jobs (timing), and each probe's cost in training
steps (probe_cost). `make bench` and workflow/scripts/probe_cost.py run them.

Imports: the ground floor, data, models, training, probes, analysis.stats.
"""
