"""Geotagger trainer: everything that needs torch (models, datasets, training, evaluation, export)."""
