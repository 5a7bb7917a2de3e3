"""Data: raw archives (sources), the canonical array file (prepare), batches (batches)."""
