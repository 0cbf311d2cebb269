"""Training data: photo folders with EXIF GPS, meta CSVs with an image root, and streamed shards (msgpack, tar)."""
