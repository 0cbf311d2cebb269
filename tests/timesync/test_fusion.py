"""The fusion rule: ordering of sources, flagging by the visual model, conflicts between time sources."""

from __future__ import annotations

import numpy as np
import pytest

from geotagger.geocore.fusion import (
    FLAG_RATIO,
    SOURCE_PRIORITY,
    LocationProposal,
    VisualEvidence,
    fuse,
    rule_order,
)


def proposal(source, lat=0.0, lon=0.0, radius_km=1.0, note=""):
    return LocationProposal(source=source, lat=lat, lon=lon, radius_km=radius_km, note=note)


def test_priority_order_is_manual_track_neighbour_personal_planet():
    assert SOURCE_PRIORITY == ("manual", "gps_track", "time_neighbour", "personal_model", "model")
    everything = [proposal(s, radius_km=r) for s, r in
                  [("model", 0.1), ("personal_model", 0.1), ("time_neighbour", 5), ("gps_track", 50)]]
    assert fuse(everything).chosen.source == "gps_track"  # reliability, not the radius, decides
    assert fuse(everything[:3]).chosen.source == "time_neighbour"
    assert fuse(everything[:2]).chosen.source == "personal_model"
    assert fuse(everything[:1]).chosen.source == "model"
    assert fuse([*everything, proposal("manual", radius_km=100)]).chosen.source == "manual"
    assert [p.source for p in fuse(everything).candidates] == ["gps_track", "time_neighbour", "personal_model",
                                                                 "model"]


def test_no_proposal_means_unlocated():
    assert fuse([]) is None


def test_same_source_smaller_radius_wins_stably():
    a, b, c = proposal("gps_track", 1, 1, 0.5), proposal("gps_track", 2, 2, 0.2), proposal("gps_track", 3, 3, 0.2)
    assert fuse([a, b, c]).chosen.lat == 2
    assert rule_order([c, b])[0].lat == 3


def test_unknown_source_is_rejected():
    with pytest.raises(ValueError, match="gps"):
        proposal("gps")


def _two_cells():
    # cell 0: western hemisphere, cell 1: eastern; -1 north of 80 degrees (no cell)
    def assign(lat, lon):
        return np.where(lat > 80, -1, np.where(lon < 0, 0, 1))

    return assign


@pytest.mark.parametrize(("p_west", "flagged"), [(0.005, True), (0.0099, True), (0.011, False), (0.5, False)])
def test_time_based_proposal_flagged_when_the_image_strongly_disagrees(p_west, flagged):
    visual = VisualEvidence.from_cells([p_west, 1.0 - p_west], _two_cells())
    decision = fuse([proposal("gps_track", 10, -20, 0.01, note="track"), proposal("model", 10, 20, 500)], visual)
    top = max(p_west, 1 - p_west)
    assert decision.chosen.flagged is (p_west < FLAG_RATIO * top)
    assert decision.chosen.flagged is flagged
    assert decision.chosen.visual_probability == pytest.approx(p_west)
    assert decision.chosen.note.startswith("track")
    if flagged:
        assert "image disagrees" in decision.chosen.note


def test_model_and_manual_decisions_are_never_flagged_by_the_visual_check():
    visual = VisualEvidence.from_cells([0.001, 0.999], _two_cells())
    for source in ("model", "personal_model", "manual"):
        decision = fuse([proposal(source, 10, -20)], visual)
        assert not decision.chosen.flagged and decision.chosen.visual_probability == pytest.approx(0.001)


def test_point_outside_every_cell_has_no_visual_opinion():
    visual = VisualEvidence.from_cells([0.001, 0.999], _two_cells())
    decision = fuse([proposal("time_neighbour", 85, -20)], visual)
    assert decision.chosen.visual_probability is None and not decision.chosen.flagged


def test_mapping_form_of_the_visual_prediction():
    visual = VisualEvidence.from_mapping({"west": 0.002, "east": 0.9}, lambda lat, lon: "west" if lon < 0 else "east")
    assert visual.top_probability == 0.9
    assert fuse([proposal("gps_track", 0, -1)], visual).chosen.flagged
    assert not fuse([proposal("gps_track", 0, 1)], visual).chosen.flagged


def test_disagreeing_time_sources_are_flagged():
    track = proposal("gps_track", 0.0, 0.0, 0.05)
    close = proposal("time_neighbour", 0.0, 0.001, 0.1)  # 111 m apart, radii sum 150 m
    far = proposal("time_neighbour", 0.0, 0.01, 0.1)  # 1.1 km apart
    assert not fuse([track, close]).chosen.flagged
    decision = fuse([track, far])
    assert decision.chosen.flagged and "time_neighbour is 1.11 km away" in decision.chosen.note
    assert not fuse([track, proposal("model", 40, 40, 1)]).chosen.flagged


def test_with_a_real_s2_partitioning():
    from geotagger.geocore.geo.partitioning import build_s2_partitionings

    rng = np.random.default_rng(0)
    lat = np.concatenate([48.85 + rng.normal(0, 0.01, 60), 35.68 + rng.normal(0, 0.01, 60)])
    lon = np.concatenate([2.35 + rng.normal(0, 0.01, 60), 139.7 + rng.normal(0, 0.01, 60)])
    (partitioning,) = build_s2_partitionings(lat, lon, tau_min=10, tau_max_values=[1000])
    paris, tokyo = partitioning.assign(np.array([48.85, 35.68]), np.array([2.35, 139.7]))
    assert paris >= 0 and tokyo >= 0 and paris != tokyo
    probabilities = np.full(len(partitioning), 0.0)
    probabilities[tokyo], probabilities[paris] = 0.995, 0.005
    visual = VisualEvidence.from_cells(probabilities, partitioning.assign)
    in_paris = fuse([proposal("gps_track", 48.85, 2.35, 0.01)], visual).chosen
    assert in_paris.flagged and in_paris.visual_probability == pytest.approx(0.005)
    in_tokyo = fuse([proposal("time_neighbour", 35.68, 139.7, 0.2)], visual).chosen
    assert not in_tokyo.flagged and in_tokyo.visual_probability == pytest.approx(0.995)
    at_sea = fuse([proposal("gps_track", -40.0, -120.0, 0.01)], visual).chosen
    assert at_sea.visual_probability is None and not at_sea.flagged


def test_from_top_cells_of_a_cached_prediction():
    from geotagger.geocore.geo import s2cells

    paris = s2cells.cell_ids_to_tokens(s2cells.parent_ids(s2cells.latlon_to_cell_ids([48.85], [2.35]), 8))[0]
    tokyo = s2cells.cell_ids_to_tokens(s2cells.parent_ids(s2cells.latlon_to_cell_ids([35.68], [139.7]), 8))[0]
    visual = VisualEvidence.from_top_cells([(tokyo, 0.9), (paris, 0.08), ("FR:Ile-de-France", 0.01)])
    assert visual is not None and visual.top_probability == 0.9
    assert visual.probability_at(48.85, 2.35) == pytest.approx(0.08)
    # elsewhere: at most min(0.08, 1 - 0.98) = 0.02, which is not below 1 % of 0.9: no false alarm
    assert visual.probability_at(-33.9, 151.2) == pytest.approx(0.02)
    assert not fuse([proposal("gps_track", -33.9, 151.2)], visual).chosen.flagged
    sharp = VisualEvidence.from_top_cells([(tokyo, 0.995), (paris, 0.004)])
    flagged = fuse([proposal("gps_track", -33.9, 151.2)], sharp).chosen
    assert flagged.flagged and flagged.visual_probability == pytest.approx(0.001)
    assert VisualEvidence.from_top_cells([("not a token", 1.0)]) is None
