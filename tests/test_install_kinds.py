"""The wheel finds its shipped data in every kind of install: a venv, `pip install --user`, and a pipx-style app
venv launched through a linked script. Each installs the real wheel (no dependencies: resource lookup needs only
the standard library) and asks for a model file from outside the checkout."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PROBE = ("from geotagger.geocore.resources import resource_path, resources_dir; "
         "print(resources_dir()); print(resource_path('models', 'base.geomodel').is_file())")


def _base_python() -> str:
    """The interpreter the test venv was made from (a venv refuses `pip install --user`)."""
    candidate = Path(sys.base_prefix) / "bin" / f"python{sys.version_info.major}.{sys.version_info.minor}"
    return str(candidate) if candidate.exists() else sys.executable


def _make_venv(venv: Path, wheel: Path, cwd: Path) -> None:
    """A venv with the wheel installed by this pip (`--python`), so no pip has to be bootstrapped into it."""
    _run([sys.executable, "-m", "venv", "--without-pip", str(venv)], cwd)
    _run([sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python"), "install", "-q", "--no-deps",
          "--no-index", str(wheel)], cwd)


def _run(command: list[str], cwd: Path, env: dict[str, str] | None = None) -> str:
    done = subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=300,
                          env={**os.environ, **(env or {}), "GEOTAGGER_RESOURCES": ""})
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    _run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", str(out), str(REPO)],
         out)
    built, = out.glob("geotagger_desktop-*.whl")
    return built


def test_the_wheel_carries_the_shipped_data_as_a_package(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    assert "geotagger_resources/models/base.geomodel" in names
    assert "geotagger_resources/leaflet/leaflet.js" in names
    assert not any(name.startswith("geotagger_resources/calibration/") for name in names)  # build-time only
    assert not any("/share/geotagger/" in name for name in names)  # the old data-files layout is gone


def test_the_wheel_installs_the_code_under_one_namespace(wheel: Path) -> None:
    """app/, geocore/ and trainer/ install as geotagger.*: no top-level name another distribution uses."""
    tops = {name.split("/")[0] for name in zipfile.ZipFile(wheel).namelist()}
    assert {"geotagger", "geotagger_resources"} <= tops
    assert not tops & {"app", "geocore", "trainer"}
    names = set(zipfile.ZipFile(wheel).namelist())
    assert {"geotagger/__init__.py", "geotagger/geocore/cli/main.py", "geotagger/trainer/cli/main.py",
            "geotagger/app/main.py", "geotagger/app/map/page.js", "geotagger/geocore/py.typed"} <= names


def test_an_installed_wheel_claims_no_bare_top_level_package(wheel: Path, tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    _make_venv(venv, wheel, tmp_path)
    probe = ("import importlib.util as u, geotagger.geocore.resources as r; "
             "print([n for n in ('app', 'geocore', 'trainer') if u.find_spec(n)]); print(r.__file__)")
    claimed, where = _run([str(venv / "bin" / "python"), "-c", probe], tmp_path).split()
    assert claimed == "[]" and Path(where).is_relative_to(venv)


def test_a_venv_install_finds_its_resources(wheel: Path, tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    _make_venv(venv, wheel, tmp_path)
    where, found = _run([str(venv / "bin" / "python"), "-c", PROBE], tmp_path).split()
    assert found == "True" and Path(where).is_relative_to(venv) and "geotagger_resources" in where


def test_a_user_install_finds_its_resources(wheel: Path, tmp_path: Path) -> None:
    userbase = {"PYTHONUSERBASE": str(tmp_path / "userbase"), "PYTHONNOUSERSITE": ""}
    _run([_base_python(), "-m", "pip", "install", "-q", "--user", "--no-deps", "--no-index",
          "--no-warn-script-location", str(wheel)], tmp_path, userbase)
    where, found = _run([_base_python(), "-c", PROBE], tmp_path, userbase).split()
    assert found == "True" and Path(where).is_relative_to(tmp_path / "userbase")


def test_a_pipx_style_app_venv_launched_through_a_linked_script_finds_its_resources(wheel: Path,
                                                                                   tmp_path: Path) -> None:
    # pipx puts each app in $PIPX_HOME/venvs/NAME and links its scripts into ~/.local/bin: the same layout.
    venv = tmp_path / "pipx" / "venvs" / "geotagger-desktop"
    bin_dir = tmp_path / "local-bin"
    bin_dir.mkdir()
    _make_venv(venv, wheel, tmp_path)
    script = bin_dir / "probe"
    script.write_text(f"#!{venv / 'bin' / 'python'}\n{PROBE.replace('; ', chr(10))}\n")
    script.chmod(0o755)
    (bin_dir / "linked-probe").symlink_to(script)
    where, found = _run([str(bin_dir / "linked-probe")], tmp_path).split()
    assert found == "True" and Path(where).is_relative_to(venv)
