"""Stage 6, report: the self-contained HTML page (page), its building blocks (markup),
the figures (figures: drawing; figure_specs: what each figure shows and reads;
claim_figures: each claim's figures), the bench section and the generated verdict table.

Imports: the ground floor and every stage before it; nothing imports it but scripts.
"""
