"""The embedded Leaflet map: an offline page, its Python bridge and the view widget."""
