"""`geotag-train translocator`: class maps cached in the shard format once, then a `fit` run and the bundle.

The cache (trainer.data.segmentation_cache) holds one `NAME.seg.msgpack` per image shard, or `photos.seg.msgpack`
for a CSV source; a rerun with the same cache folder skips the segmentation.
"""

from __future__ import annotations

from pathlib import Path

from geotagger.trainer.data.labels import SkipReport
from geotagger.trainer.export import ExportCheck
from geotagger.trainer.isn_training import MethodRun, data_section, fit_and_export, run_config

LAYOUT_INPUT_PX = {"vit_b16": 224, "tiny": 32}
CACHE_SHORT_SIDE = 8 / 7  # maps at the evaluation resize of the input (256 px for 224)


def build_cache(run: MethodRun, segmentation_path: Path, cache: Path, short_side_px: int) -> dict[str, int]:
    """Segment every photo of the run not cached yet (one process; `geotag-train segment` splits over ranks)."""
    from geotagger.trainer.data.builder import located_photos
    from geotagger.trainer.data.labels import SkipReport as Report
    from geotagger.trainer.data.segmentation_cache import PHOTOS_CACHE, build_photo_cache, build_shard_cache, photo_key
    from geotagger.trainer.segmentation import load_segmentation
    from geotagger.trainer.training.config import DataConfig

    segmentation, short_px = load_segmentation(segmentation_path), short_side_px
    if run.shards:
        return build_shard_cache(segmentation, [str(s) for s in run.shards], cache, short_px)
    if (cache / PHOTOS_CACHE).is_file():
        return {}
    assert run.images is not None
    photos = located_photos(DataConfig("csv", csv=str(run.csv_path), images=str(run.images)), Report())
    keyed = {photo_key(name, str(run.images)): name for name in photos.names}
    return {str(run.csv_path): build_photo_cache(segmentation, keyed, cache, short_px)}


def train_translocator_bundle(
    run: MethodRun, segmentation_path: Path, out: Path, model_id: str, layout: str = "vit_b16",
    vit_weights: Path | None = None, cache: Path | None = None, input_size_px: int | None = None,
) -> tuple[Path, ExportCheck, SkipReport]:
    """Cache the class maps, train TransLocator through `fit` (AdamW) and write the checked bundle."""
    size = input_size_px or LAYOUT_INPUT_PX[layout]
    cache = cache or out.with_name(out.stem + ".segcache")
    build_cache(run, segmentation_path, cache, round(size * CACHE_SHORT_SIDE))
    model = {"method": "translocator", "vit_layout": layout, "input_size": size, "segmentation": str(segmentation_path),
             "vit_weights": str(vit_weights) if vit_weights else None, "pretrained": vit_weights is not None}
    run.optim = {"optimizer": "adamw", "weight_decay": 0.05, **run.optim}
    return fit_and_export(run_config(run, model, data_section(run, cache), out), out, model_id)
