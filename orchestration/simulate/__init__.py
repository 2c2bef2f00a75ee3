"""Sample-data simulator: landing batches with a hidden truth (`orphanlake generate`)."""

from orchestration.simulate.batch import generate_batch

__all__ = ["generate_batch"]
