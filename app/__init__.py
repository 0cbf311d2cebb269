"""Geotagger desktop app (PySide6). Imports geocore; nothing imports app."""
