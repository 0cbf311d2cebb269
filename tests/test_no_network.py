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
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

from geotagger.geocore.inference.files import BASE_BUNDLE
from tests.photo_factory import make_jpeg

REPO = Path(__file__).resolve().parents[1]
LINGER_S = 11  # onnxruntime's uploader wakes about 8 s after the first session
LOOPBACK = ("127.", "::1", "::ffff:127.")
_ADDRESS = re.compile(r'inet_(?:addr|pton)\((?:AF_INET6?, *)?"([^"]+)"')
_NETWORK_CALL = re.compile(r"\b(connect|sendto|sendmsg|sendmmsg|bind)\((.*)")

STRACE_MARKS = (
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("strace") is None, reason="strace is not installed"),
    pytest.mark.skipif(not sys.platform.startswith("linux"), reason="strace runs on Linux only"),
    pytest.mark.skipif(not BASE_BUNDLE.exists(), reason="the base bundle is not built"),
)


def needs_strace(test: Callable[..., None]) -> Callable[..., None]:
    """The marks of a test that runs a program under strace."""
    for mark in STRACE_MARKS:
        test = mark(test)
    return test


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


def _trace(command: list[str], tmp_path: Path, timeout_s: float, env: dict[str, str]) -> tuple[str, str]:
    """(the strace log, the program's stdout) of `command` run under `strace -f`."""
    log = tmp_path / "strace.log"
    result = subprocess.run(["strace", "-f", "-qq", "-e", "trace=network,openat", "-o", str(log), *command],
                            cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout_s)
    if not log.exists() or "PTRACE" in result.stderr or "Operation not permitted" in result.stderr:
        pytest.skip(f"strace cannot trace here: {result.stderr.strip()[:200]}")
    assert result.returncode == 0, result.stderr[-2000:]
    return log.read_text(errors="replace"), result.stdout


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
def test_onnxruntime_telemetry_is_off_before_it_loads(tmp_path: Path) -> None:
    """Without strace: the telemetry client, when on, creates its device-id store under ~/.cache at load time."""
    driver = ("from geotagger.geocore.inference.bundle import load_bundle; "
              "from geotagger.geocore.inference.runtime import create_session; "
              f"create_session(load_bundle({str(BASE_BUNDLE)!r}), 'cpu'); "
              "import os; print(os.environ.get('ORT_DISABLE_TELEMETRY'))")
    env = _clean_env(tmp_path)
    result = subprocess.run([sys.executable, "-c", driver], cwd=REPO, env=env, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == "1"
    stores = [path for root in (tmp_path / "home", tmp_path / "cache") for path in root.rglob("*onnxruntime*")]
    assert stores == []


@needs_strace
def test_predict_makes_no_network_request(tmp_path: Path) -> None:
    folder = tmp_path / "photos"
    folder.mkdir()
    make_jpeg(folder / "a.jpg", size=(96, 64))
    # `geotag predict`, then the process stays alive as long as a GUI session would
    driver = ("import sys, time; from geotagger.geocore.cli.main import main; status = main(sys.argv[1:]); "
              f"time.sleep({LINGER_S}); sys.exit(status)")
    command = [sys.executable, "-c", driver, "predict", str(folder), "--provider", "cpu",
               "--json", str(tmp_path / "out.jsonl")]
    trace, _ = _trace(command, tmp_path, 120, _clean_env(tmp_path))
    assert network_violations(trace) == []
    assert (tmp_path / "out.jsonl").read_text().count("\n") == 1


@needs_strace
def test_gui_start_makes_no_network_request(tmp_path: Path) -> None:
    folder = tmp_path / "photos"
    folder.mkdir()
    make_jpeg(folder / "a.jpg", size=(96, 64))
    # app.main.main() reuses an existing QApplication: make it first, with a timer that quits the event loop
    # LINGER_S after the GUI's first onnxruntime session (the telemetry uploader's delay), or after a minute.
    driver = textwrap.dedent(f"""
        import sys, time
        from PySide6.QtCore import QCoreApplication, Qt, QTimer
        from PySide6.QtWidgets import QApplication
        import geotagger.geocore.inference.runtime as runtime
        QCoreApplication.setAttribute(Qt.ApplicationAttribute.AA_ShareOpenGLContexts)
        app = QApplication(["geotagger"])
        created, started = [], time.monotonic()
        original = runtime.create_session
        def create_session(*args, **kwargs):
            session = original(*args, **kwargs)
            created.append(time.monotonic())
            return session
        runtime.create_session = create_session
        def maybe_quit():
            now = time.monotonic()
            if (created and now - created[0] > {LINGER_S}) or now - started > 60:
                print("sessions", len(created), flush=True)
                app.quit()
        timer = QTimer()
        timer.timeout.connect(maybe_quit)
        timer.start(250)
        from geotagger.app.main import main
        sys.exit(main(sys.argv[1:]))
    """)
    command = [sys.executable, "-c", driver, "--config-dir", str(tmp_path / "config"),
               "--data-dir", str(tmp_path / "data"), str(folder)]
    trace, output = _trace(command, tmp_path, 180, _clean_env(tmp_path))
    assert "sessions 0" not in output, "the GUI start-up created no onnxruntime session: nothing was checked"
    assert network_violations(trace) == []
