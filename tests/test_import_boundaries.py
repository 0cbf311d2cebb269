"""geocore must import without Qt and torch: the one-way rule app -> geocore <- trainer."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

# Blocks the top-level modules listed in argv[2], as if they were not installed.
BLOCK_IMPORTS = textwrap.dedent(
    """
    import importlib.abc, sys
    BLOCKED = set(sys.argv[2].split(','))
    class Block(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name.split('.')[0] in BLOCKED:
                raise ModuleNotFoundError('No module named ' + repr(name), name=name.split('.')[0])
            return None
    sys.meta_path.insert(0, Block())
    """
)
# Imports every module of the package named in argv[1].
WALK_PACKAGE = textwrap.dedent(
    """
    import pkgutil, importlib
    package = importlib.import_module(sys.argv[1])
    for info in pkgutil.walk_packages(package.__path__, sys.argv[1] + '.'):
        importlib.import_module(info.name)
    print('ok')
    """
)
BLOCKER = BLOCK_IMPORTS + WALK_PACKAGE


@pytest.mark.parametrize(
    ("package", "blocked"),
    [("geocore", "PySide6,torch,torchvision,onnx,app,trainer"), ("trainer", "PySide6,app")],
)
def test_imports_flow_one_way(package: str, blocked: str) -> None:
    command = [sys.executable, "-c", BLOCKER, package, blocked]
    result = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().endswith("ok")


@pytest.mark.parametrize("command", ["geotag", "geotag-train"])
def test_console_scripts_show_help(command: str) -> None:
    module = {"geotag": "geocore.cli.main", "geotag-train": "trainer.cli.main"}[command]
    result = subprocess.run([sys.executable, "-m", module, "--help"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "usage" in result.stdout


def test_training_commands_say_what_is_missing_without_torch(tmp_path) -> None:
    code = BLOCK_IMPORTS + textwrap.dedent(
        """
        from trainer.cli.main import main
        sys.exit(main(['personalize', '--library', sys.argv[3], '--out', sys.argv[3] + '/p.geomodel']))
        """
    )
    result = subprocess.run([sys.executable, "-c", code, "geocore", "torch", str(tmp_path)],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2, result.stderr
    assert "needs the training extra (torch is not installed)" in result.stderr
