"""Locations from time: GPS tracks (GPX, KML, GeoJSON), time zones and clock offsets, geotagged time neighbours.

Plain data in (TimedPhoto, Track, ClockSettings), LocationProposal out (see geocore.fusion); no cache, no files
except the track parsers. Modules: parsers, track, clock, match, neighbours, sync, sphere.
"""
