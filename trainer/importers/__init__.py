"""Importers: published models converted into our bundles (GeoCLIP for location, Places365 for scenes)."""
