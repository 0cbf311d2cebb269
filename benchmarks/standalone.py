"""Build the standalone one-folder app (packaging/geotagger.spec) and run it: `geotagger --version`, `geotag
--version` and `geotag predict` on a sample photo, from a copy outside the checkout. Prints the folder's size,
build time and each program's start-up time next to the same command run from the venv (the reference).

    .venv/bin/pip install pyinstaller && .venv/bin/python benchmarks/standalone.py
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "resources" / "samples" / "chelsea_the_cat.jpg"


def folder_size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink())


def timed(command: list[str], env: dict[str, str]) -> tuple[float, str]:
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, timeout=600, env=env)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed ({done.returncode}): {done.stderr[-1500:]}")
    return time.perf_counter() - started, done.stdout


def main() -> int:
    work = Path(tempfile.mkdtemp(prefix="geotagger-standalone-"))
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "PyInstaller", "--noconfirm", "--log-level", "WARN", "--distpath",
                    str(work / "dist"), "--workpath", str(work / "build"), str(ROOT / "packaging" / "geotagger.spec")],
                   check=True, cwd=ROOT)
    build_s = time.perf_counter() - started
    app = work / "moved" / "geotagger"
    shutil.copytree(work / "dist" / "geotagger", app, symlinks=True)  # runs from anywhere, not only dist/
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "GEOTAGGER_DB": str(work / "cache.sqlite"),
           "GEOTAGGER_RESOURCES": ""}
    venv_bin = Path(sys.executable).parent
    rows = []
    for label, standalone, reference in (
            ("geotagger --version", [str(app / "geotagger"), "--version"], [str(venv_bin / "geotagger"), "--version"]),
            ("geotag --version", [str(app / "geotag"), "--version"], [str(venv_bin / "geotag"), "--version"]),
            ("geotag predict (1 photo)", [str(app / "geotag"), "predict", str(SAMPLE), "--provider", "cpu"],
             [str(venv_bin / "geotag"), "predict", str(SAMPLE), "--provider", "cpu"])):
        ours_s, out = timed(standalone, env)
        reference_s, _ = timed(reference, env)
        if "predict" in label:
            record = json.loads(out.splitlines()[0])
            assert record["error"] is None and record["scene"], record
        first_line = (out.strip().splitlines() or [""])[0]
        rows.append((label, ours_s, reference_s, first_line[:60]))
    print(f"standalone folder: {folder_size(app) / 2**20:.0f} MiB, built in {build_s:.0f} s ({app})")
    print(f"{'command':28} {'standalone s':>12} {'venv s':>8}  first line of output")
    for label, ours_s, reference_s, first in rows:
        print(f"{label:28} {ours_s:12.2f} {reference_s:8.2f}  {first}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
