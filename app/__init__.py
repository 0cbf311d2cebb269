"""Geotagger desktop app (PySide6). Imports geocore; nothing imports app."""

__version__ = "0.1.0"
