"""Geotagger's shipped data (models, scene mapping, Leaflet and map data, sample photos), installed as the package
`geotagger_resources` so that `importlib.resources` finds it wherever an installer put it (venv, --user, pipx)."""
