"""`geotag-train partition`: files written, one line per partitioning, one-line errors with exit status 2."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from geotagger.geocore.geo.hierarchy import Hierarchy
from geotagger.geocore.geo.partitioning import Partitioning
from geotagger.trainer.cli.main import main


def write_coords(path: Path, rows: list[tuple[object, object]], header: str = "LAT,LON") -> Path:
    path.write_text(header + "\n" + "".join(f"{a},{b}\n" for a, b in rows))
    return path


@pytest.fixture
def coords(tmp_path: Path) -> Path:
    rng = np.random.default_rng(1)
    centres = [(48.85, 2.35), (40.71, -74.0), (35.68, 139.69), (-33.87, 151.21)]
    rows = [
        (round(a + rng.normal(0, 0.3), 6), round(b + rng.normal(0, 0.3), 6)) for a, b in centres for _ in range(250)
    ]
    return write_coords(tmp_path / "coords.csv", rows)


def test_s2_partitionings_and_hierarchy(coords: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    assert (
        main(
            ["partition", "--coords", str(coords), "--tau-min", "5", "--tau-max", "20", "200", "60", "--out", str(out)]
        )
        == 0
    )
    lines = capsys.readouterr().out.strip().splitlines()
    assert [line.split(":")[0] for line in lines] == ["cells_5_200", "cells_5_60", "cells_5_20"]
    partitionings = [Partitioning.read_csv(out / f"cells_5_{tau}.csv") for tau in (200, 60, 20)]
    for line, partitioning in zip(lines, partitionings):
        assert f"{len(partitioning)} cells" in line
    hierarchy = Hierarchy.read_csv(out / "hierarchy.csv", partitionings)
    np.testing.assert_array_equal(hierarchy.parent_index, Hierarchy(partitionings).parent_index)


def test_semantic_partitionings(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rows = [(35.0116, 135.7681)] * 12 + [(48.8566, 2.3522)] * 3
    coords = write_coords(tmp_path / "c.csv", rows, header="latitude,longitude")
    out = tmp_path / "sem"
    assert main(["partition", "--coords", str(coords), "--semantic", "--tau-min", "10", "2", "--out", str(out)]) == 0
    assert "semantic_10: 2 cells, 15 images" in capsys.readouterr().out
    # Paris has 3 < 10 locations: at the coarsest level it goes to its country rather than being dropped (every
    # place that has photos is kept, issue 13), and the finer level has the town itself.
    assert Partitioning.read_csv(out / "semantic_10.csv").labels == ["FR", "Kyoto, Kyoto, JP"]
    assert Partitioning.read_csv(out / "semantic_2.csv").labels == ["Paris, Ile-de-France, FR", "Kyoto, Kyoto, JP"]


@pytest.mark.parametrize(
    ("content", "args", "reason"),
    [
        ("", [], "row 1: empty file"),
        ("A,B\n1,2\n", [], "row 1: no latitude column"),
        ("LAT,LON\n10,20\n95,20\n", [], "row 3: LAT 95.0 is outside [-90, 90]"),
        ("LAT,LON\n10,20\nnan,20\n", [], "row 3: LAT is missing or not finite"),
        ("LAT,LON\n10,abc\n", [], "row 2: LON 'abc' is not a number"),
        ("LAT,LON\n", [], "no locations"),
        ("y,x\n10,20\n", ["--lat-col", "y", "--lon-col", "nope"], "no longitude column"),
        ("LAT,LON\n10,20\n10.1,20\n", ["--tau-min", "50", "--tau-max", "100"], "no cells"),
    ],
)
def test_bad_input_gives_one_line_error_and_status_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str, args: list[str], reason: str
) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(content)
    thresholds = [] if "--tau-min" in args else ["--tau-min", "1", "--tau-max", "10"]
    command = ["partition", "--coords", str(path), *thresholds, "--out", str(tmp_path / "o"), *args]
    assert main(command) == 2
    error = capsys.readouterr().err.strip()
    assert len(error.splitlines()) == 1
    assert str(path) in error and reason in error


def test_missing_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "missing.csv"
    assert (
        main(["partition", "--coords", str(missing), "--tau-min", "1", "--tau-max", "5", "--out", str(tmp_path)]) == 2
    )
    assert "cannot read" in capsys.readouterr().err
