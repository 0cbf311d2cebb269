"""`geotag` imports only the chosen command's module: the table of homes matches what the modules register, every
command's --help still works, and undo/scan start without the predict and time commands' heavy modules."""

from __future__ import annotations

import argparse
import importlib
import json
import subprocess
import sys

import pytest

from geotagger.geocore.cli.main import COMMAND_HOMES, COMMAND_MODULES, chosen_modules, geotag_parser, main
from tests.photo_factory import make_jpeg

CLI = "geotagger.geocore.cli"


def test_the_table_of_homes_is_what_the_modules_register() -> None:
    registered: dict[str, str] = {}
    for module_name in COMMAND_MODULES:
        subparsers = argparse.ArgumentParser().add_subparsers()
        importlib.import_module(module_name).register(subparsers)
        for name in subparsers.choices:
            assert name not in registered, f"{name} registered twice"
            registered[name] = module_name
    assert registered == COMMAND_HOMES


def test_only_the_chosen_commands_module_is_built() -> None:
    assert chosen_modules(["undo", "--batch", "x"], COMMAND_MODULES, COMMAND_HOMES) == [f"{CLI}.library_commands"]
    assert chosen_modules(["-q", "predict", "a"], COMMAND_MODULES, COMMAND_HOMES) == [f"{CLI}.predict_command"]
    for everything in ([], ["--help"], ["--version"], ["no-such-command"]):
        assert chosen_modules(everything, COMMAND_MODULES, COMMAND_HOMES) == list(COMMAND_MODULES)
    commands = geotag_parser(["undo"])._subparsers._group_actions[0].choices  # type: ignore[union-attr]
    assert set(commands) == {"scan", "write", "undo", "strip", "set"}


def test_top_level_help_lists_every_command(capsys) -> None:
    with pytest.raises(SystemExit) as stop:
        main(["--help"])
    assert stop.value.code == 0
    out = capsys.readouterr().out
    for name in COMMAND_HOMES:
        assert name in out, name


@pytest.mark.parametrize("name", sorted(COMMAND_HOMES))
def test_every_commands_help_works(name, capsys) -> None:
    with pytest.raises(SystemExit) as stop:
        main([name, "--help"])
    assert stop.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith(f"usage: geotag {name}"), out[:200]
    assert "--json" in out and "exit status: 0 all good" in out


def test_an_unknown_command_is_a_usage_error_naming_the_commands(capsys) -> None:
    with pytest.raises(SystemExit) as stop:
        main(["undoo", "--batch", "x"])
    assert stop.value.code == 2
    err = capsys.readouterr().err
    assert "invalid choice" in err and "sync-track" in err and "undo" in err


def test_an_argfile_can_name_the_command(tmp_path, capsys) -> None:
    argfile = tmp_path / "args.txt"
    argfile.write_text("undo\n--list\n--db\n" + str(tmp_path / "c.sqlite") + "\n--json\n")
    assert main(["-@", str(argfile)]) == 0
    assert json.loads(capsys.readouterr().out) == []


def _modules_after(arguments: list[str]) -> set[str]:
    """The modules a fresh interpreter holds after `geotag ARGUMENTS` (help exits are caught)."""
    driver = ("import json, sys\nfrom geocore.cli.main import main\n"
              "try:\n    main(sys.argv[1:])\nexcept SystemExit:\n    pass\n"
              "print(json.dumps(sorted(sys.modules)))\n")
    done = subprocess.run([sys.executable, "-c", driver, *arguments], capture_output=True, text=True, check=True)
    return set(json.loads(done.stdout.splitlines()[-1]))


def test_undo_help_imports_neither_the_library_nor_numpy() -> None:
    modules = _modules_after(["undo", "--help"])
    assert "geotagger.geocore.cli.library_commands" in modules
    assert not {"numpy", "sqlalchemy", "PIL", f"{CLI}.predict_command", f"{CLI}.time_commands"} & modules


def test_undo_does_not_import_the_predict_commands_runtime(tmp_path) -> None:
    make_jpeg(tmp_path / "p" / "a.jpg")
    db = str(tmp_path / "c.sqlite")
    assert main(["scan", "-q", str(tmp_path / "p"), "--db", db]) == 0
    modules = _modules_after(["undo", "--list", "--db", db])
    assert "geotagger.geocore.library.api" in modules  # it did run
    assert not {"geotagger.geocore.inference.runtime", "geotagger.geocore.inference.bundle",
                f"{CLI}.predict_command", f"{CLI}.time_commands"} & modules
