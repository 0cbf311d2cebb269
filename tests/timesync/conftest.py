"""Every time-sync test gets its own per-user config folder: clock.json must never leak between tests (or into
the real user's folder)."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def private_config_dir(tmp_path_factory, monkeypatch):
    folder = tmp_path_factory.mktemp("config")
    monkeypatch.setenv("GEOTAGGER_CONFIG_DIR", str(folder))
    return folder
