"""A file name that is not UTF-8 never breaks a command's output, whatever the terminal's encoding."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.photo_factory import make_jpeg

LATIN1_NAME = b"caf\xe9.jpg"


@pytest.mark.skipif(sys.platform == "darwin", reason="macOS file systems refuse names that are not UTF-8")
def test_text_and_json_output_survive_a_strict_utf8_terminal(tmp_path: Path) -> None:
    folder = tmp_path / "p"
    folder.mkdir()
    photo = Path(os.fsdecode(os.fsencode(folder) + b"/" + LATIN1_NAME))
    make_jpeg(photo)
    env = {**os.environ, "PYTHONIOENCODING": "utf-8:strict", "LC_ALL": "C.UTF-8", "GEOTAGGER_DB": str(tmp_path / "c")}
    command = [sys.executable, "-m", "geotagger.geocore.cli.main"]
    lines = subprocess.run([*command, "set", str(folder), "--lat", "1", "--lon", "2"], capture_output=True,
                           env=env, timeout=120)
    assert lines.returncode == 0, lines.stderr.decode("utf-8", "replace")
    assert "café.jpg".replace("é", "\ufffd").encode() in lines.stdout and b"Traceback" not in lines.stderr
    document = subprocess.run([*command, "undo", str(photo), "--json"], capture_output=True, env=env, timeout=120)
    assert document.returncode == 0, document.stderr.decode("utf-8", "replace")
    parsed = json.loads(document.stdout.decode("utf-8"))  # valid UTF-8 JSON
    outcome, = parsed["outcomes"]
    assert outcome["path"].endswith("caf\ufffd.jpg") and outcome["path_bytes"]  # display text plus the exact bytes
