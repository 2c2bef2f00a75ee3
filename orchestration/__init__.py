"""orphanlake: Dagster code location, CLI and the lake's Python building blocks."""
