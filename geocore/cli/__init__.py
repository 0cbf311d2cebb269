"""The headless `geotag` command."""
