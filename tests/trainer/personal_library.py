"""A generated personal library of realistic shape: a home city, a second city, trips, generic indoor shots, days.

Each place is a set of spots (a street, a square, a view point) a few hundred metres across; each spot has its own
look (palette mixed from the city's and its own, two stripe textures, blobs), and every photo of it varies that look
(phase, brightness, zoom, flip, noise). A share of the photos are generic indoor-like shots that look alike wherever
they were taken. Photos carry EXIF GPS and DateTimeOriginal; some days of every place are held out (their photos are
written without GPS into a separate folder), as are the photos of a place the library never saw.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import piexif
from PIL import Image

from tests.photo_factory import gps_ifd

EARTH_KM_PER_DEG = 111.2
SEED_STRIDE = 100_003  # Shape.seed shifts every generator by this much (0 keeps the reference library)


@dataclass(frozen=True)
class Place:
    """A place of the library: photos over `spread_km` in `spots` spots, taken on `days` days."""

    name: str
    lat: float
    lon: float
    photos: int
    spots: int
    days: int
    spread_km: float
    end: tuple[float, float] | None = None  # a road trip: spots along the way from (lat, lon) to `end`


# The library: 600 photos at home over ~3 km, 150 at a second city, five trips of 20-40 photos (one a
# 200 km road trip); Tokyo is the never-visited place.
LIBRARY = (
    Place("Lisbon", 38.7223, -9.1393, 600, 40, 60, 3.0),
    Place("Porto", 41.1496, -8.6110, 150, 12, 15, 2.0),
    Place("Madrid", 40.4168, -3.7038, 30, 4, 3, 2.0),
    Place("Paris", 48.8566, 2.3522, 40, 5, 4, 3.0),
    Place("Rome", 41.9028, 12.4964, 25, 4, 3, 2.0),
    Place("Seville", 37.3891, -5.9845, 20, 3, 2, 1.5),
    Place("road trip Bordeaux-Toulouse", 44.8378, -0.5792, 35, 8, 3, 0.5, end=(43.6047, 1.4442)),
)
NEVER_VISITED = Place("Tokyo", 35.6762, 139.6503, 60, 6, 3, 3.0)


@dataclass
class GeneratedPhoto:
    """One written photo: its file, true position, place, day and whether it is a generic indoor shot."""

    path: Path
    lat: float
    lon: float
    place: str
    day: int
    generic: bool


@dataclass
class GeneratedLibrary:
    """The library folder (GPS), the held-out days' photos and the never-visited place's photos (no GPS)."""

    library: list[GeneratedPhoto] = field(default_factory=list)
    heldout: list[GeneratedPhoto] = field(default_factory=list)
    never_visited: list[GeneratedPhoto] = field(default_factory=list)


@dataclass(frozen=True)
class Look:
    """What a spot looks like."""

    colour: np.ndarray
    frequencies: tuple[float, float]
    angles: tuple[float, float]
    blobs: np.ndarray  # (n, 5): x, y, radius, colour shift r/g


def _look(rng: np.random.Generator, city_colour: np.ndarray) -> Look:
    colour = 0.5 * city_colour + 0.5 * rng.uniform(30, 230, 3)
    blobs = np.column_stack([rng.uniform(0, 1, (4, 2)), rng.uniform(0.05, 0.2, 4), rng.uniform(-80, 80, (4, 2))])
    return Look(colour, tuple(rng.uniform(1.5, 12, 2)), tuple(rng.uniform(0, np.pi, 2)), blobs)


GENERIC = Look(np.array([190.0, 170.0, 140.0]), (1.0, 2.0), (0.3, 1.8), np.array([[0.5, 0.6, 0.25, 20, 10]]))


def render(look: Look, rng: np.random.Generator, width: int, height: int) -> np.ndarray:
    """One photo of a look: random phase, zoom, flip, brightness and noise."""
    zoom = rng.uniform(0.75, 1.0)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    xx, yy = (xx / width - 0.5) * zoom + 0.5, (yy / width - 0.5) * zoom + 0.5
    if rng.random() < 0.5:
        xx = 1.0 - xx
    pixels = np.broadcast_to(look.colour.astype(np.float32), (height, width, 3)).copy()
    for frequency, angle, tint in zip(look.frequencies, look.angles, ([1.0, -0.6, 0.3], [-0.4, 0.8, -0.7]),
                                      strict=True):
        wave = np.sin(2 * np.pi * frequency * (xx * np.cos(angle) + yy * np.sin(angle)) + rng.uniform(0, 2 * np.pi))
        pixels += 40.0 * wave[..., None] * np.array(tint, dtype=np.float32)
    for x, y, radius, shift_r, shift_g in look.blobs:
        inside = (xx - x) ** 2 + (yy - y) ** 2 < radius**2
        pixels[inside] += np.array([shift_r, shift_g, -0.5 * (shift_r + shift_g)], dtype=np.float32)
    pixels *= rng.uniform(0.85, 1.15)
    pixels += rng.normal(0, 12, pixels.shape).astype(np.float32)
    return np.clip(pixels, 0, 255).astype(np.uint8)


def write_jpeg(path: Path, pixels: np.ndarray, gps: tuple[float, float] | None, taken: dt.datetime) -> None:
    """A JPEG with DateTimeOriginal and, when given, EXIF GPS."""
    stamp = taken.strftime("%Y:%m:%d %H:%M:%S").encode()
    exif = piexif.dump({"0th": {}, "Exif": {piexif.ExifIFD.DateTimeOriginal: stamp},
                        "GPS": gps_ifd(gps) if gps else {}, "1st": {}})
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels, "RGB").save(path, "JPEG", quality=90, exif=exif)


def _spot_centres(place: Place, rng: np.random.Generator) -> np.ndarray:
    if place.end is not None:
        steps = np.linspace(0, 1, place.spots)
        return np.column_stack([place.lat + steps * (place.end[0] - place.lat),
                                place.lon + steps * (place.end[1] - place.lon)])
    radius_km = place.spread_km / 2 * np.sqrt(rng.uniform(0, 1, place.spots))
    bearing = rng.uniform(0, 2 * np.pi, place.spots)
    lat = place.lat + radius_km * np.cos(bearing) / EARTH_KM_PER_DEG
    lon = place.lon + radius_km * np.sin(bearing) / (EARTH_KM_PER_DEG * np.cos(np.radians(place.lat)))
    return np.column_stack([lat, lon])


@dataclass(frozen=True)
class Shape:
    """Generation settings: photo size, held-out share of days, generic share, scale of the photo counts."""

    width: int = 256
    height: int = 192
    heldout_day_share: float = 0.2
    generic_share: float = 0.1
    scale: float = 1.0
    photo_spread_km: float = 0.12  # photos scatter this far around their spot
    seed: int = 0  # another library of the same shape (spots, looks, days, photos); 0 is the reference one


def _place_photos(place: Place, seed: int, shape: Shape, heldout: bool) -> list[tuple[float, float, int, bool, Look]]:
    """(lat, lon, day, generic, look) of every photo of a place; held-out days get extra photos on top."""
    rng = np.random.default_rng(seed + SEED_STRIDE * shape.seed)
    centres = _spot_centres(place, rng)
    city_colour = rng.uniform(30, 230, 3)
    looks = [_look(rng, city_colour) for _ in range(place.spots)]
    count = max(place.spots, int(round(place.photos * shape.scale)))
    if heldout:
        count = max(2, int(round(count * shape.heldout_day_share / (1 - shape.heldout_day_share))))
    spots = np.arange(count) % place.spots
    rng.shuffle(spots)
    held_days = max(1, int(round(place.days * shape.heldout_day_share)))
    # Held-out days are the last ones of each place; the library's days come first (other days than held-out).
    days = (rng.integers(place.days - held_days, place.days, count) if heldout
            else rng.integers(0, max(1, place.days - held_days), count))
    spread = shape.photo_spread_km / EARTH_KM_PER_DEG
    rows = []
    for spot, day in zip(spots.tolist(), days.tolist(), strict=True):
        lat = centres[spot, 0] + rng.normal(0, spread)
        lon = centres[spot, 1] + rng.normal(0, spread / np.cos(np.radians(place.lat)))
        generic = bool(rng.random() < shape.generic_share)
        rows.append((float(lat), float(lon), int(day), generic, GENERIC if generic else looks[spot]))
    return rows


def _write_place(place: Place, number: int, folder: Path, shape: Shape, heldout: bool,
                 with_gps: bool) -> list[GeneratedPhoto]:
    rng = np.random.default_rng(1000 + 7 * number + (1 if heldout else 0) + SEED_STRIDE * shape.seed)
    photos = []
    start = dt.datetime(2024, 1, 1, 9, 0) + dt.timedelta(days=90 * number)
    for index, (lat, lon, day, generic, look) in enumerate(_place_photos(place, number, shape, heldout)):
        path = folder / f"{place.name.split()[0].lower()}_{index:04d}.jpg"
        taken = start + dt.timedelta(days=day, minutes=int(rng.integers(0, 600)))
        write_jpeg(path, render(look, rng, shape.width, shape.height), (lat, lon) if with_gps else None, taken)
        photos.append(GeneratedPhoto(path, lat, lon, place.name, day, generic))
    return photos


def generate_library(root: Path, shape: Shape | None = None, places: tuple[Place, ...] = LIBRARY,
                     never: Place = NEVER_VISITED) -> GeneratedLibrary:
    """Write the library under root/library (GPS), root/heldout and root/never (no GPS)."""
    shape = shape or Shape()
    generated = GeneratedLibrary()
    for number, place in enumerate(places):
        generated.library += _write_place(place, number, root / "library" / f"{number:02d}", shape, False, True)
        generated.heldout += _write_place(place, number, root / "heldout", shape, True, False)
    never_shape = Shape(shape.width, shape.height, 0.0, 0.0, shape.scale, shape.photo_spread_km, shape.seed)
    generated.never_visited = _write_place(never, len(places), root / "never", never_shape, False, False)
    return generated
