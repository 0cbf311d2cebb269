"""The window's place names come from a helper process (the lookup would otherwise hold the GUI's GIL)."""

from __future__ import annotations

import os

from geotagger.app.place_names import PlaceNamer, place_texts

POINTS = [(48.8566, 2.3522), (38.7223, -9.1393), (0.0, -140.0)]  # Paris, Lisbon, the middle of the Pacific


def test_names_come_from_a_child_process_and_match_a_lookup_here() -> None:
    namer = PlaceNamer()
    try:
        texts = namer.texts(POINTS)
        assert "Paris" in texts[0] and "France" in texts[0]
        assert texts[1] == "Lisbon, Portugal" and texts[2] == ""  # GeoNames' state is Lisbon too: said once
        assert namer.texts(POINTS, short=True)[:2] == ["Paris, FR", "Lisbon, PT"]
        assert texts == place_texts(POINTS)
        assert namer._pool is not None
        children = [process.pid for process in namer._pool._processes.values()]
        assert children and os.getpid() not in children
    finally:
        namer.close()


def test_a_dead_helper_falls_back_to_looking_names_up_here() -> None:
    namer = PlaceNamer()
    try:
        assert namer.texts(POINTS[:1])
        for process in list(namer._pool._processes.values()):
            process.kill()
            process.join()
        assert "Lisbon" in namer.texts(POINTS[1:2])[0]  # the broken pool is noticed; the answer still comes
        assert namer._pool is None and namer.texts([]) == []
    finally:
        namer.close()


def test_warm_up_starts_the_helper_without_waiting_for_it() -> None:
    import time

    namer = PlaceNamer()
    try:
        started = time.perf_counter()
        namer.warm_up()
        assert time.perf_counter() - started < 0.5  # the caller (the window opening) does not wait for GeoNames
        deadline = time.monotonic() + 60
        while namer._pool is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert namer._pool is not None and "Paris" in namer.texts(POINTS[:1])[0]
    finally:
        namer.close()


def test_the_helper_does_not_load_qt_and_runs_lowered() -> None:
    from geotagger.app.priorities import HELPER_NICE

    namer = PlaceNamer()
    try:
        namer.texts(POINTS[:1])
        assert namer._pool is not None
        seen = namer._pool.submit(_what_the_helper_sees).result()
        assert seen == (False, max(HELPER_NICE, os.nice(0)))
    finally:
        namer.close()


def _what_the_helper_sees() -> tuple[bool, int]:
    import sys

    return "PySide6" in sys.modules, os.nice(0)
