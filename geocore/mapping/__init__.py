"""Maps without Qt: the vendored offline basemap, place search, tile archives and folium-built pages."""
