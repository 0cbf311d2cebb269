"""Locations from time: GPS tracks and location histories, time zones and clock offsets, geotagged time neighbours.

Plain data in (TimedPhoto, Track, ClockSettings), LocationProposal out (see geocore.fusion); no cache. Modules:
- reading: parsers (dispatch by suffix and content, folders), gpx, takeout (+ json_stream), text_formats (NMEA,
  IGC, CSV), fit, points (shared error type, vectorised ISO times, the collector);
- matching: track (the numpy Track, quality filters), match (interpolation, exiftool's limits), neighbours, sync
  (proposals, references, offsets, hints, the check against geotagged photos), sphere;
- time: clock (zones, per-camera offsets, exiftool -geosync), clock_store (the per-user clock.json);
- store: how cached records look to time sync.
"""
