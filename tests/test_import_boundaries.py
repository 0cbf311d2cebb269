"""geocore must import without Qt and torch: the one-way rule app -> geocore <- trainer."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

BLOCKER = textwrap.dedent(
    """
    import importlib.abc, sys
    class Block(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name.split('.')[0] in {'PySide6', 'torch', 'torchvision', 'app', 'trainer'}:
                raise ImportError('blocked: ' + name)
            return None
    sys.meta_path.insert(0, Block())
    import pkgutil, importlib, geocore
    for info in pkgutil.walk_packages(geocore.__path__, 'geocore.'):
        importlib.import_module(info.name)
    print('ok')
    """
)


def test_geocore_imports_without_qt_and_torch() -> None:
    result = subprocess.run([sys.executable, "-c", BLOCKER], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().endswith("ok")


@pytest.mark.parametrize("command", ["geotag", "geotag-train"])
def test_console_scripts_show_help(command: str) -> None:
    module = {"geotag": "geocore.cli.main", "geotag-train": "trainer.cli.main"}[command]
    result = subprocess.run([sys.executable, "-m", module, "--help"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "usage" in result.stdout
