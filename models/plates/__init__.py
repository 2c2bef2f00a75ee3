"""Screening-plate science: plate layouts, QC metrics, normalization, dose-response, plots."""
