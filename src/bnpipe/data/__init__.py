"""Stage 1, data: raw archives (sources), the canonical array file (prepare), the
committed sample (sample), batches drawn from (seed, step) (batches), and what a model
is trained on, its loss and evaluation (tasks).

Imports: the ground floor only.
"""
