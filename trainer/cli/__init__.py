"""The `geotag-train` command."""
