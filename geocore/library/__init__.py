"""Photo library: scanning, the SQLite cache, safe EXIF/XMP writing with undo, place names, stripping location.

The public entry point is `geocore.library.api.Library`; errors are `geocore.library.errors.LibraryError`.
"""
