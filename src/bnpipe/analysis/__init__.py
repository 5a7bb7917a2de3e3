"""Stage 5, analysis: per-run quantities from histories and probe tables (quantities),
intervals and tests over seeds (stats), error-rate checks on each test's own residuals
(error_rates), the seven claims and the verdict rule (claims), the step that writes
claims.json and the tables (analyze) and the tables `dvc plots` reads (dvc_plots).
Nothing here draws a figure.

Imports: the ground floor only (it reads the files the earlier stages wrote).
"""
