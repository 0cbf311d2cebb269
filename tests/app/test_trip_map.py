"""The exported trip map (`File ▸ Export map…`, `geotag map`): one HTML file that a real headless Chromium draws
with its markers, tracks and thumbnails, offline, making no request at all."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from geotagger.geocore.cli.main import main as geotag
from tests.photo_factory import make_jpeg

XSS = '<img src=x onerror="window.pwned=1">'
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
CHROMIUM_SERVICES = re.compile(r"https?://([a-z0-9-]+\.)*(google\.com|gvt1\.com|googleapis\.com|gstatic\.com)/")
QUIET_BROWSER = ["--headless=new", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-default-apps", "--disable-extensions", "--metrics-recording-only",
                 "--window-size=1000,700", "--virtual-time-budget=4000"]


def _gpx(path: Path, start: datetime) -> Path:
    points = "".join(f'<trkpt lat="{38.70 + 0.002 * i}" lon="{-9.15 + 0.003 * i}"><time>'
                     f'{(start + timedelta(minutes=2 * i)).strftime("%Y-%m-%dT%H:%M:%SZ")}</time></trkpt>'
                     for i in range(40))
    path.write_text(f'<?xml version="1.0"?><gpx version="1.1" creator="test" xmlns="http://www.topografix.com/GPX/1/1">'
                    f"<trk><name>walk</name><trkseg>{points}</trkseg></trk></gpx>", encoding="utf-8")
    return path


@pytest.fixture
def trip(tmp_path: Path) -> tuple[Path, Path]:
    folder = tmp_path / "trip"
    folder.mkdir()
    taken = datetime(2023, 6, 1, 10, 0)
    for index in range(3):
        make_jpeg(folder / f"lisbon_{index}.jpg", (160, 120), gps=(38.71 + 0.01 * index, -9.14 + 0.01 * index),
                  datetime_original=taken + timedelta(minutes=10 * index), color_seed=index)
    make_jpeg(folder / f"{XSS}.jpg", (160, 120), gps=(38.74, -9.10), color_seed=9)
    make_jpeg(folder / "nowhere.jpg", (160, 120), color_seed=7)
    return folder, _gpx(tmp_path / "walk.gpx", taken)


def test_geotag_map_writes_one_offline_file(tmp_path, trip, capsys):
    folder, track = trip
    out = tmp_path / "trip.html"
    assert geotag(["map", str(folder), "--track", str(track), "--out", str(out), "--db", str(tmp_path / "l.db")]) == 0
    assert "4 of 5 photos placed, 1 tracks" in capsys.readouterr().out
    html = out.read_text(encoding="utf-8")
    assert not re.search(r"""(<script[^>]*src|<link[^>]*href|<img[^>]*src)=["']?(https?:)?//""", html)  # all inline
    assert "cdn.jsdelivr" not in html and "code.jquery" not in html
    assert "default-src 'none'" in html
    assert XSS not in html  # file names travel as escaped JSON text only
    assert html.count("data:image/jpeg;base64,") >= 4
    assert geotag(["map", str(tmp_path / "missing"), "--out", str(out)]) == 2


def test_geotag_map_names_an_unreadable_track_and_draws_the_rest(tmp_path, trip, capsys):
    folder, track = trip
    broken = tmp_path / "broken.gpx"
    broken.write_text("<gpx><trk><trkseg><trkpt lat=", encoding="utf-8")
    out = tmp_path / "trip.html"
    code = geotag(["map", str(folder), "--track", str(track), "--track", str(broken), "--out", str(out),
                   "--db", str(tmp_path / "l.db")])
    printed = capsys.readouterr()
    assert code == 1  # the map is written, but not everything asked for is on it
    assert "1 tracks (1 unreadable, left out)" in printed.out
    assert f"FAILED  {broken}" in printed.err
    html = out.read_text(encoding="utf-8")
    assert "walk.gpx" in html and "broken.gpx" not in html


@pytest.mark.skipif(CHROMIUM is None, reason="needs chromium (apt-get install chromium)")
def test_trip_map_in_headless_chromium(tmp_path, trip):
    folder, track = trip
    out = tmp_path / "trip.html"
    assert geotag(["map", str(folder), "--track", str(track), "--out", str(out), "--db", str(tmp_path / "l.db"),
                   "-q"]) == 0
    url = out.resolve().as_uri()
    net_log, shot = tmp_path / "net.json", tmp_path / "trip.png"
    subprocess.run([CHROMIUM, *QUIET_BROWSER, f"--log-net-log={net_log}", f"--screenshot={shot}", url],
                   capture_output=True, timeout=90, check=False)
    dom = subprocess.run([CHROMIUM, *QUIET_BROWSER, "--dump-dom", url], capture_output=True, text=True, timeout=90,
                         check=False).stdout
    assert shot.stat().st_size > 10_000  # a drawn map, not a blank page
    assert len(re.findall(r'<path class="gt-photo', dom)) == 4  # every placed photo, none for the unplaced one
    assert dom.count('stroke="#c2410c"') >= 1  # the track
    assert "pwned" not in dom.split("GEOTAGGER_TRIP")[0] and "<img src=\"x\"" not in dom
    assert 'data-gt-remote-resources="0"' in dom  # the page's own count of resources it loaded from elsewhere
    requested = set(re.findall(r'"url":"([a-z-]+:[^"]*)"', net_log.read_text(encoding="utf-8")))
    # Chromium itself calls its services (time, accounts, dictionaries) whatever page it shows; nothing else left
    page_requests = {u for u in requested if not u.startswith(("file:", "data:")) and not CHROMIUM_SERVICES.match(u)}
    assert page_requests == set(), page_requests
    json.loads(net_log.read_text(encoding="utf-8"))  # a complete log: the browser ran to the end


def test_geotag_map_json_is_one_document(tmp_path, trip, capsys):
    folder, track = trip
    out = tmp_path / "trip.html"
    assert geotag(["map", str(folder), "--track", str(track), "--out", str(out), "--db", str(tmp_path / "l.db"),
                   "--json"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert document == {"operation": "map", "out": str(out), "photos": 5, "placed": 4, "tracks": 1,
                        "unreadable_tracks": [], "exit_status": 0}
