"""Geotagger core: geography, inference and the photo library. No Qt and no torch at import time."""

__version__ = "0.1.0"
