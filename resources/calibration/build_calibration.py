"""Rebuild the calibration photos from the scikit-image wheel's skimage/data (run once; the JPEGs are committed).

Usage: python resources/calibration/build_calibration.py /path/to/extracted/skimage/data

They only set the int8 activation ranges of the base bundle (`geotag-train base-model`); they are never shipped in
the wheel. None of them is a photo the ImageNet sanity check scores, so that check stays held out.
"""

from __future__ import annotations

import sys
from pathlib import Path

from PIL import Image

HERE = Path(__file__).resolve().parent
LONG_SIDE_PX = 512

# output name -> source file in skimage/data
PHOTOS = {
    "camera_man.jpg": "camera.png",
    "brick_wall.jpg": "brick.png",
    "grass.jpg": "grass.png",
    "gravel.jpg": "gravel.png",
    "greek_coins.jpg": "coins.png",
    "motion_blurred_clock.jpg": "clock_motion.png",
    "immunohistochemistry.jpg": "ihc.png",
    "hubble_deep_field.jpg": "hubble_deep_field.jpg",
    "retina_fundus.jpg": "retina.jpg",
    "corner_text.jpg": "text.png",
}


def build(data_dir: Path) -> None:
    for out_name, src in PHOTOS.items():
        with Image.open(data_dir / src) as opened:
            image = opened.convert("L" if opened.mode in ("L", "LA", "I;16") else "RGB")
        image.thumbnail((LONG_SIDE_PX, LONG_SIDE_PX), Image.Resampling.LANCZOS)
        image.save(HERE / out_name, "JPEG", quality=90)
        print(out_name, image.size, image.mode)


if __name__ == "__main__":
    build(Path(sys.argv[1]))
