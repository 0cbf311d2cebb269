"""Photo library: scanning, the SQLite cache, safe EXIF/XMP writing with undo, place names, stripping location.

Entry point: `geocore.library.api.Library` (thread-safe; one lock serialises cache writes, WAL lets readers run):

    library = Library(db_path=None)        # None: $GEOTAGGER_DB or the per-user data folder (appdirs)
    library.scan(folders, progress=cb, cancel=event) -> ScanReport      # cb(done, total, path)
    library.photos("no_gps" | "has_gps" | "error" | "proposed" | "accepted" | "written" | "review" | "all")
    library.photo(id) / photo_by_path(path) -> PhotoRecord (capture_datetime, capture_offset, gps_*, ...)
    library.propose(photo_id, lat, lon, radius_km, source, altitude_m=..., review=..., notes=...) -> decision id
        source in {"model", "personal_model", "gps_track", "time_neighbour", "manual"}
    library.propose_many([decisions.Proposal(...), ...]) -> ids     # one transaction for bulk callers
    library.accept(id) / reject(id) / set_manual(photo_id, lat, lon) / decisions(photo_id=, state=, source=)
    library.write_batch(decision_ids=None, all_proposed=False, sidecar_only=False, dry_run=False,
                        progress=cb, cancel=event) -> BatchReport (results: FileResult per file, typed errors)
    library.undo(batch_id=None, paths=None) / library.strip(paths) -> BatchReport
    library.put_prediction / predictions, put_features(_many) / get_features(_many) (float32 vectors, dropped
        automatically when the file changes)
    library.thumbnail(photo_id) -> Path (cached JPEG, EXIF orientation applied)

Errors are `geocore.library.errors.LibraryError(kind=ErrorKind.X, path, reason)`; batches never raise per file.
"""
