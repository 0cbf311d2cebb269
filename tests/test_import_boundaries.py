"""geocore must import without Qt and torch: the one-way rule app -> geocore <- trainer."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

# Blocks the modules listed in argv[2] (and their submodules), as if they were not installed.
BLOCK_IMPORTS = textwrap.dedent(
    """
    import importlib.abc, sys
    BLOCKED = set(sys.argv[2].split(','))
    class Block(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            blocked = next((b for b in BLOCKED if name == b or name.startswith(b + '.')), None)
            if blocked:
                raise ModuleNotFoundError('No module named ' + repr(name), name=blocked)
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
    [("geotagger.geocore", "PySide6,torch,torchvision,onnx,geotagger.app,geotagger.trainer"),
     ("geotagger.trainer", "PySide6,geotagger.app")],
)
def test_imports_flow_one_way(package: str, blocked: str) -> None:
    command = [sys.executable, "-c", BLOCKER, package, blocked]
    result = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().endswith("ok")


@pytest.mark.parametrize("command", ["geotag", "geotag-train"])
def test_console_scripts_show_help(command: str) -> None:
    module = {"geotag": "geotagger.geocore.cli.main", "geotag-train": "geotagger.trainer.cli.main"}[command]
    result = subprocess.run([sys.executable, "-m", module, "--help"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "usage" in result.stdout


def test_training_commands_say_what_is_missing_without_torch(tmp_path) -> None:
    code = BLOCK_IMPORTS + textwrap.dedent(
        """
        from geotagger.trainer.cli.main import main
        sys.exit(main(['personalize', '--library', sys.argv[3], '--out', sys.argv[3] + '/p.geomodel']))
        """
    )
    result = subprocess.run([sys.executable, "-c", code, "geotagger.geocore", "torch", str(tmp_path)],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2, result.stderr
    assert "needs the training extra (torch is not installed)" in result.stderr


# The app reaches the workflow only through geocore.workflow (and value types): never the parts it composes.
APP_MUST_NOT_IMPORT = ("geotagger.geocore.fusion", "geotagger.geocore.timesync",
                       "geotagger.geocore.library.decisions")
BACKEND_MAX_LINES = 250


def _imported_modules(source: str) -> set[str]:
    import ast

    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
    return found


def test_the_app_uses_the_session_layer_not_the_parts_it_composes() -> None:
    from pathlib import Path

    app = Path(__file__).resolve().parents[1] / "app"
    offenders = {str(path.relative_to(app.parent)): sorted(name for name in _imported_modules(path.read_text())
                                                          if name.startswith(APP_MUST_NOT_IMPORT))
                 for path in app.rglob("*.py")}
    assert {path: names for path, names in offenders.items() if names} == {}
    assert len((app / "backend.py").read_text().splitlines()) < BACKEND_MAX_LINES


def test_the_import_check_sees_both_import_forms() -> None:
    names = _imported_modules("import geotagger.geocore.fusion\nfrom geotagger.geocore.timesync.store import x\n")
    assert names == {"geotagger.geocore.fusion", "geotagger.geocore.timesync.store"}


TOP_LEVEL_NAMES_WE_MUST_NOT_CLAIM = ("app", "geocore", "trainer")


def test_every_module_lives_under_the_geotagger_namespace() -> None:
    """Importing all three packages (app, CLI, trainer) loads nothing under a bare `app`, `geocore` or `trainer`:
    those top-level names belong to other distributions (Coqui's `trainer`)."""
    code = textwrap.dedent(
        """
        import pkgutil, importlib, sys
        for name in ('geotagger.geocore', 'geotagger.trainer', 'geotagger.app'):
            package = importlib.import_module(name)
            for info in pkgutil.walk_packages(package.__path__, name + '.'):
                importlib.import_module(info.name)
        print(sorted({m.split('.')[0] for m in sys.modules} & set(sys.argv[1].split(','))))
        """
    )
    result = subprocess.run([sys.executable, "-c", code, ",".join(TOP_LEVEL_NAMES_WE_MUST_NOT_CLAIM)],
                            capture_output=True, text=True, timeout=300,
                            env={**__import__("os").environ, "QT_QPA_PLATFORM": "offscreen"})
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "[]"


def test_undo_and_set_do_not_import_numpy() -> None:
    """`geotag undo` and `set` load what the file steps and the journal need: NumPy's import alone was ~70 ms of an
    undo that exiftool does in 0.3 s (benchmarks/write.py). The track, fusion and feature code import it lazily."""
    code = ("import sys; import geotagger.geocore.cli.library_commands, geotagger.geocore.workflow.session; "
            "print('numpy' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"
