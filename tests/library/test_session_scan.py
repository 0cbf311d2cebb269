"""Session.scan reads the found photos back only for callers that use them (`geotag scan` does not)."""

from __future__ import annotations

from pathlib import Path

from geotagger.geocore.workflow.session import Session
from tests.photo_factory import make_jpeg


def test_scan_without_records_counts_the_same_and_reads_nothing_back(tmp_path: Path) -> None:
    folder = tmp_path / "photos"
    for index in range(3):
        make_jpeg(folder / f"IMG_{index}.jpg", size=(64, 48), color_seed=index)
    (folder / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not a jpeg")
    with Session.open(tmp_path / "cache.sqlite3") as session:
        lean = session.scan([folder], records=False)
        assert lean.records == [] and lean.report.found == 4 and lean.report.new == 4
        assert [o.path for o in lean.outcomes] == [str(folder / "broken.jpg")]
        full = session.scan([folder])
        assert full.report.unchanged == 4 and sorted(Path(r.path).name for r in full.records) == [
            "IMG_0.jpg", "IMG_1.jpg", "IMG_2.jpg", "broken.jpg"]
        assert [o.path for o in full.outcomes] == [o.path for o in lean.outcomes]
