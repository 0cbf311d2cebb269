"""Shared pytest set-up: Qt runs offscreen, nothing reaches the network or the user's data folder."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("QTWEBENGINE_DISABLE_SANDBOX", "1")

import pytest  # noqa: E402


@pytest.fixture(autouse=True)
def _private_default_cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """A command run without --db (geotag predict, sync-*) uses a cache of the test's own, never the user's."""
    if "GEOTAGGER_DB" not in os.environ:
        monkeypatch.setenv("GEOTAGGER_DB", str(tmp_path_factory.mktemp("default-cache") / "library.sqlite"))
