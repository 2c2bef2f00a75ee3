"""Chemistry layer: structure standardization, per-structure properties, reference sets."""
