"""The privacy promise: `geotag predict` and the GUI start-up open no network socket and make no DNS query.

Both run under `strace -f` long enough for onnxruntime's telemetry uploader (about 8 s after a session is created)
and fail on any connect/sendto/bind to a non-loopback AF_INET/AF_INET6 address and any use of port 53 (DNS).
Reading /etc/resolv.conf alone is allowed: QtWebEngine's network service reads it at start-up to watch the DNS
configuration, without querying anything.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from geocore.inference.files import BASE_BUNDLE
from tests.photo_factory import make_jpeg

REPO = Path(__file__).resolve().parents[1]
LINGER_S = 11  # onnxruntime's uploader wakes about 8 s after the first session
LOOPBACK = ("127.", "::1", "::ffff:127.")
_ADDRESS = re.compile(r'inet_(?:addr|pton)\((?:AF_INET6?, *)?"([^"]+)"')
_NETWORK_CALL = re.compile(r"\b(connect|sendto|sendmsg|sendmmsg|bind)\((.*)")

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("strace") is None, reason="strace is not installed"),
    pytest.mark.skipif(not sys.platform.startswith("linux"), reason="strace runs on Linux only"),
]


def network_violations(trace: str) -> list[str]:
    """Lines of an `strace -f` log that reach past this machine: non-loopback addresses and DNS."""
    bad = []
    for line in trace.splitlines():
        if "htons(53)" in line:
            bad.append(line)
        elif (match := _NETWORK_CALL.search(line)) and "AF_INET" in match.group(2):
            addresses = _ADDRESS.findall(match.group(2))
            if any(not address.startswith(LOOPBACK) for address in addresses):
                bad.append(line)
    return bad


def _trace(command: list[str], tmp_path: Path, timeout_s: float, env: dict[str, str]) -> str:
    log = tmp_path / "strace.log"
    result = subprocess.run(["strace", "-f", "-qq", "-e", "trace=network,openat", "-o", str(log), *command],
                            cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout_s)
    if not log.exists() or "PTRACE" in result.stderr or "Operation not permitted" in result.stderr:
        pytest.skip(f"strace cannot trace here: {result.stderr.strip()[:200]}")
    assert result.returncode == 0, result.stderr[-2000:]
    return log.read_text(errors="replace")


def _clean_env(tmp_path: Path) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if key != "ORT_DISABLE_TELEMETRY"}
    env.update(HOME=str(tmp_path / "home"), XDG_CACHE_HOME=str(tmp_path / "cache"),
               GEOTAGGER_DB=str(tmp_path / "library.sqlite3"), QT_QPA_PLATFORM="offscreen",
               QTWEBENGINE_DISABLE_SANDBOX="1", PYTHONPATH=str(REPO))
    return env


def test_violations_are_recognised() -> None:
    lines = [
        '12 connect(7, {sa_family=AF_INET, sin_port=htons(53), sin_addr=inet_addr("10.0.0.53")}, 16) = 0',
        '12 connect(7, {sa_family=AF_INET6, sin6_port=htons(443), inet_pton(AF_INET6, "2a01::1", &sin6_addr)}, 28)',
        '12 connect(7, {sa_family=AF_INET, sin_port=htons(8000), sin_addr=inet_addr("127.0.0.1")}, 16) = 0',
        '12 connect(7, {sa_family=AF_UNIX, sun_path="/var/run/nscd/socket"}, 110) = -1 ENOENT',
    ]
    assert network_violations("\n".join(lines)) == lines[:2]


@pytest.mark.skipif(not BASE_BUNDLE.exists(), reason="the base bundle is not built")
def test_predict_makes_no_network_request(tmp_path: Path) -> None:
    folder = tmp_path / "photos"
    folder.mkdir()
    make_jpeg(folder / "a.jpg", size=(96, 64))
    # `geotag predict`, then the process stays alive as long as a GUI session would
    driver = ("import sys, time; from geocore.cli.main import main; status = main(sys.argv[1:]); "
              f"time.sleep({LINGER_S}); sys.exit(status)")
    command = [sys.executable, "-c", driver, "predict", str(folder), "--provider", "cpu",
               "--json", str(tmp_path / "out.jsonl")]
    trace = _trace(command, tmp_path, 120, _clean_env(tmp_path))
    assert network_violations(trace) == []
    assert (tmp_path / "out.jsonl").read_text().count("\n") == 1


@pytest.mark.skipif(not BASE_BUNDLE.exists(), reason="the base bundle is not built")
def test_gui_start_makes_no_network_request(tmp_path: Path) -> None:
    folder = tmp_path / "photos"
    folder.mkdir()
    make_jpeg(folder / "a.jpg", size=(96, 64))
    # app.main.main() reuses an existing QApplication: make it first, with a timer that quits the event loop.
    driver = (
        "import sys; from PySide6.QtCore import QCoreApplication, Qt, QTimer; "
        "from PySide6.QtWidgets import QApplication; "
        "QCoreApplication.setAttribute(Qt.ApplicationAttribute.AA_ShareOpenGLContexts); "
        "app = QApplication(['geotagger']); "
        f"QTimer.singleShot({(LINGER_S + 3) * 1000}, app.quit); "
        "from app.main import main; sys.exit(main(sys.argv[1:]))"
    )
    command = [sys.executable, "-c", driver, "--config-dir", str(tmp_path / "config"),
               "--data-dir", str(tmp_path / "data"), str(folder)]
    trace = _trace(command, tmp_path, 180, _clean_env(tmp_path))
    assert network_violations(trace) == []
