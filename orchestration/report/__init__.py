"""Per-patient HTML reports a clinician reads: the top candidate genes with their score,
variants, matched phenotype terms and reasons, on one self-contained page.

``collect`` reads the published lake (the catalog views the CLI reads), ``render`` turns
what it read into HTML (every value escaped: patient data is hostile input), ``write``
puts pages into the lake or wherever the user asks.
"""
