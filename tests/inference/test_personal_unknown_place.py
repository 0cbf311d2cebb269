"""The personal "looks like no place in your library" rule: a relative similarity, thresholded on held-out days."""

from __future__ import annotations

import numpy as np
import pytest

from geotagger.geocore.inference.personal import NoveltyIndex, UnknownPlaceRule
from geotagger.trainer.personalize.calibration import WITHHELD_SHARE, unknown_place_rule

DIM = 64


def _unit(rows: np.ndarray) -> np.ndarray:
    return rows / np.linalg.norm(rows, axis=-1, keepdims=True)


def _library(rng: np.random.Generator, spreads: list[float], photos: int) -> tuple[np.ndarray, np.ndarray]:
    """(spot looks, photos) of spots whose photos vary their look by `spread` each: tight and loose spots."""
    looks = _unit(rng.normal(size=(len(spreads), DIM)))
    rows = [look + rng.normal(0, spread / np.sqrt(DIM), (photos, DIM)) for look, spread in zip(looks, spreads)]
    return looks, _unit(np.vstack(rows))


def _photos(rng: np.random.Generator, look: np.ndarray, spread: float, count: int) -> np.ndarray:
    return _unit(look + rng.normal(0, spread / np.sqrt(DIM), (count, DIM)))


def test_a_place_resembling_a_tight_spot_is_unknown_while_photos_of_a_loose_spot_are_known() -> None:
    rng = np.random.default_rng(0)
    looks, gallery = _library(rng, [0.15] * 4 + [0.9] * 4, 40)  # four tight spots, four loose ones
    index = NoveltyIndex.build(gallery.astype(np.float16).astype(np.float32))
    known_loose = _photos(rng, looks[5], 0.9, 30)  # new photos of a loose (varied) spot
    # a never-visited place: its own look mixed with a tight spot's, so it resembles that spot
    novel_look = _unit(looks[1] + 0.8 * _unit(rng.normal(size=DIM)))
    novel = _photos(rng, novel_look, 0.15, 30)
    nearest = lambda rows: (_unit(rows - index.mean) @ index.vectors.T).max(axis=1)  # noqa: E731
    # the nearest similarity alone ranks the never-visited photos as the more familiar ones ...
    assert np.median(nearest(novel)) > np.median(nearest(known_loose))
    # ... the relative similarity puts every known photo above every never-visited one
    assert index.relative_similarity(known_loose).min() > index.relative_similarity(novel).max()
    assert np.all(index.relative_similarity(_photos(rng, looks[0], 0.15, 30)) > index.relative_similarity(novel).max())


def _days(rng: np.random.Generator, looks: np.ndarray, day_shift: float, days: int, photos: int,
          odd_days: float = 0.0) -> np.ndarray:
    """Photos of every spot on `days` days: each day shifts the look (light, season), each photo varies it a little;
    a share `odd_days` of the days shifts it three times as much (fog, night)."""
    rows = []
    for look in looks:
        for _ in range(days):
            shift = day_shift * (3.0 if rng.random() < odd_days else 1.0)
            day_look = look + rng.normal(0, shift / np.sqrt(DIM), DIM)
            rows.append(_photos(rng, day_look, 0.1, photos))
    return np.vstack(rows)


def test_the_threshold_comes_from_held_out_days_of_each_library() -> None:
    rng = np.random.default_rng(1)
    rules, fresh = [], []
    # two libraries of six spots, five days each: in the second, a fifth of the days change a spot's look a lot
    for odd_days in (0.0, 0.2):
        day_shift = 0.4
        looks = _unit(rng.normal(size=(7, DIM)))  # the seventh spot is seen on one day only
        gallery = np.vstack([_days(rng, looks[:6], day_shift, 5, 8, odd_days), _days(rng, looks[6:], day_shift, 1, 8)])
        gallery = gallery.astype(np.float16).astype(np.float32)
        days = np.repeat(np.arange(6 * 5 + 1), 8)
        spot = np.concatenate([np.repeat(np.arange(6), 5 * 8), np.full(8, 6)])
        lat, lon = 38.7 + 0.05 * spot, np.full(len(spot), -9.1)  # spots 5 km apart
        rule, measured = unknown_place_rule(gallery, days, lat, lon)
        assert measured["withheld_share_target"] == WITHHELD_SHARE and measured["heldout_days"] == 31
        assert measured["heldout_known_place_photos"] == 6 * 5 * 8 and measured["heldout_unseen_place_photos"] == 8
        assert abs(measured["heldout_withheld_percent"] - 100 * WITHHELD_SHARE) <= 2
        assert measured["heldout_unseen_place_withheld_percent"] == 100  # its day held out, nothing else is like it
        new_days = _days(rng, looks[:6], day_shift, 4, 8, odd_days)  # days the library never saw, of its spots
        scores = NoveltyIndex.build(gallery, days=days).relative_similarity(new_days)
        assert np.mean(scores < rule.min_score) <= 3 * WITHHELD_SHARE  # about the stated share, on each library
        rules.append(rule)
        fresh.append(scores)
    # the first library's threshold (as good as any fixed one) withholds far too many of the second's new days
    assert np.mean(fresh[1] < rules[0].min_score) > 3 * WITHHELD_SHARE
    assert rules[1].min_score < rules[0].min_score
    # one day is nothing to hold out against
    assert unknown_place_rule(gallery, np.zeros(len(gallery)), lat, lon) is None


def test_the_rule_survives_the_card_and_malformed_entries_mean_no_rule() -> None:
    rule = UnknownPlaceRule(-0.123, 3, 5)
    entry = rule.to_card(heldout_withheld_percent=5.0)
    assert UnknownPlaceRule.from_card(entry) == rule and entry["heldout_withheld_percent"] == 5.0
    for bad in (None, [], {"rule": "relative_similarity"}, {"rule": "relative_similarity", "min_score": "x"},
                {"rule": "relative_similarity", "min_score": float("nan")}, {"output": "library_similarity",
                                                                             "min_similarity": 0.7},
                {"rule": "relative_similarity", "min_score": 0.1, "neighbours": 0}):
        assert UnknownPlaceRule.from_card(bad) is None


def test_tiny_and_empty_galleries_do_not_crash() -> None:
    one = NoveltyIndex.build(_unit(np.ones((1, DIM))))
    assert np.isfinite(one.relative_similarity(np.ones(DIM))).all()
    assert unknown_place_rule(_unit(np.ones((1, DIM))), np.arange(1), np.zeros(1), np.zeros(1)) is None
    assert unknown_place_rule(_unit(np.ones((5, DIM))), np.arange(3), np.zeros(3), np.zeros(3)) is None
    far = np.arange(4) * 10.0  # four days, each at its own place: no known place to hold out
    assert unknown_place_rule(_unit(np.ones((4, DIM))), np.arange(4), far, far) is None
    empty = NoveltyIndex.build(np.zeros((0, DIM), np.float32))
    assert empty.relative_similarity(np.ones(DIM))[0] == -np.inf


def test_holding_a_day_out_drops_it_from_its_neighbours_references_too() -> None:
    rng = np.random.default_rng(2)
    look = _unit(rng.normal(size=DIM))
    # one spot on three days: day 0 and day 1 are near-identical, day 2 differs
    rows = np.vstack([_photos(rng, look, 0.05, 4), _photos(rng, look, 0.05, 4), _photos(rng, look, 0.6, 4)])
    days = np.repeat([0, 1, 2], 4)
    index = NoveltyIndex.build(rows, days=days)
    scores = index.day_out_scores(days, neighbours=1)
    # a day-0 photo held out: its nearest is a day-1 photo, whose reference without day 0 is a day-2 photo
    for i in range(4):
        others = np.flatnonzero(days != 0)
        similarity = index.vectors[others] @ index.vectors[i]
        nearest = others[int(np.argmax(similarity))]
        third = np.flatnonzero(days == 2)
        expected = similarity.max() - (index.vectors[third] @ index.vectors[nearest]).max()
        assert scores[i] == pytest.approx(expected, abs=1e-5)
