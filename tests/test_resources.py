"""Shipped resources are found from a checkout and through the override variable."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from geotagger.geocore.resources import resource_path


def test_checkout_resources_are_found() -> None:
    assert resource_path("models", "base.geomodel").is_file()
    assert resource_path("scene", "imagenet_s3.csv").is_file()


def test_override_variable_wins(tmp_path: Path) -> None:
    (tmp_path / "scene").mkdir()
    code = "from geotagger.geocore.resources import resource_path; print(resource_path('scene'))"
    env = {"GEOTAGGER_RESOURCES": str(tmp_path), "PATH": "/usr/bin:/bin"}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60)
    assert result.stdout.strip() == str(tmp_path / "scene"), result.stderr
