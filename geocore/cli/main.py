"""Entry point of `geotag`: one sub-command module per capability, each adding its parsers.

Every sub-command also gets the options of exiftool's habits: `-q/--quiet`, `-v/--verbose`, `--json` (one JSON
document on stdout), `-@ ARGFILE` (more arguments, one per line; `-` reads them from stdin), and the same exit
status (0 all good, 1 some files failed, 2 usage error).
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Callable, Mapping, Sequence

from geotagger.geocore import __version__
from geotagger.geocore.cli.output import EXIT_CODES_HELP, EXIT_USAGE, configure

# Each module exposes `register(subparsers)`; parsers set `handler=callable(args) -> int`.
COMMAND_MODULES = (
    "geotagger.geocore.cli.library_commands",
    "geotagger.geocore.cli.predict_command",
    "geotagger.geocore.cli.time_commands",
    "geotagger.geocore.cli.map_command",
)
# Which module registers each sub-command, so that a command imports only its own module: `geotag undo` must not
# pay for the predict command's inference runtime or the time commands' track parsers (tests/cli/test_lazy_commands.py
# checks this table against what the modules register). A name not listed here, or no name (`geotag --help`),
# imports every module.
COMMAND_HOMES = {
    "scan": "geotagger.geocore.cli.library_commands",
    "write": "geotagger.geocore.cli.library_commands",
    "undo": "geotagger.geocore.cli.library_commands",
    "strip": "geotagger.geocore.cli.library_commands",
    "set": "geotagger.geocore.cli.library_commands",
    "predict": "geotagger.geocore.cli.predict_command",
    "sync-track": "geotagger.geocore.cli.time_commands",
    "sync-neighbours": "geotagger.geocore.cli.time_commands",
    "map": "geotagger.geocore.cli.map_command",
}
BROKEN_PIPE_STATUS = 141  # what a shell reports for a program killed by SIGPIPE (128 + 13)


class ArgfileError(ValueError):
    """An argument file that cannot be read."""


def expand_argfiles(argv: Sequence[str], stdin_lines: Sequence[str] | None = None) -> list[str]:
    """exiftool's `-@ ARGFILE`: the file's non-empty lines (not starting with #) become arguments in its place;
    `-@ -` reads them from stdin. An argument file may name another one (at most 16 deep)."""
    return _expand(list(argv), stdin_lines, 0)


def _expand(argv: list[str], stdin_lines: Sequence[str] | None, depth: int) -> list[str]:
    if depth > 16:
        raise ArgfileError("argument files nest more than 16 deep")
    out: list[str] = []
    index = 0
    while index < len(argv):
        if argv[index] != "-@":
            out.append(argv[index])
            index += 1
            continue
        if index + 1 >= len(argv):
            raise ArgfileError("-@ needs a file name (or - for stdin)")
        name = argv[index + 1]
        if name == "-":
            lines = list(stdin_lines) if stdin_lines is not None else sys.stdin.read().splitlines()
        else:
            try:
                with open(name, encoding="utf-8", errors="surrogateescape") as handle:
                    lines = handle.read().splitlines()
            except OSError as error:
                raise ArgfileError(f"-@ {name}: {error.strerror or error}") from None
        arguments = [line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")]
        out.extend(_expand(arguments, stdin_lines, depth + 1))
        index += 2
    return out


def _add_common_options(parser: argparse.ArgumentParser) -> None:
    existing = {option for action in parser._actions for option in action.option_strings}
    group = parser.add_argument_group("output (every command)")
    if "-q" not in existing:
        group.add_argument("-q", "--quiet", action="store_true", help="only failures and the summary; no progress")
    if "-v" not in existing:
        group.add_argument("-v", "--verbose", action="store_true", help="more detail (what a dry run would write)")
    if "--json" not in existing:
        group.add_argument("--json", action="store_true", dest="as_json",
                           help="one JSON document on stdout instead of lines")
    group.add_argument("-@", dest="argfile", metavar="ARGFILE",
                       help="read more arguments from ARGFILE, one per line ('-' = stdin)")
    if parser.epilog is None:
        parser.epilog = EXIT_CODES_HELP
    elif EXIT_CODES_HELP not in parser.epilog:
        parser.epilog = f"{parser.epilog}\n\n{EXIT_CODES_HELP}"
    parser.formatter_class = argparse.RawDescriptionHelpFormatter


def chosen_modules(argv: Sequence[str], modules: Sequence[str], homes: Mapping[str, str]) -> list[str]:
    """The modules to import for `argv`: the home of its sub-command when `homes` knows it, else all `modules`.

    The sub-command is the first argument that is not an option (the top-level parser takes only -h and
    --version); `geotag --help`, a typo or no command at all get every module, so the usage lists every command."""
    command = next((argument for argument in argv if not argument.startswith("-")), None)
    home = homes.get(command) if command is not None else None
    return [home] if home is not None and home in modules else list(modules)


def build_command_parser(prog: str, description: str, modules: Sequence[str],
                         common_options: bool = True) -> argparse.ArgumentParser:
    """Build a parser whose sub-commands come from `modules` (also used by `geotag-train`)."""
    parser = argparse.ArgumentParser(prog=prog, description=description, epilog=EXIT_CODES_HELP,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    subparsers = parser.add_subparsers(dest="command", required=True)
    for module_name in modules:
        importlib.import_module(module_name).register(subparsers)
    if common_options:
        for subparser in subparsers.choices.values():
            _add_common_options(subparser)
    return parser


def run_command(parser: argparse.ArgumentParser | Callable[[Sequence[str]], argparse.ArgumentParser],
                argv: Sequence[str] | None, prog: str = "geotag") -> int:
    """Parse `argv` and run the chosen sub-command's handler; returns its exit status.

    `parser` may be a function of the (expanded) arguments that builds the parser: `geotag` builds only the chosen
    command's module that way. `geotag scan --json-lines | head` closes the pipe early: that ends the command
    quietly, as for any Unix tool.
    """
    raw = list(sys.argv[1:] if argv is None else argv)
    try:
        raw = expand_argfiles(raw)
    except ArgfileError as error:
        print(f"{parser.prog if isinstance(parser, argparse.ArgumentParser) else prog}: {error}", file=sys.stderr)
        return EXIT_USAGE
    if not isinstance(parser, argparse.ArgumentParser):
        parser = parser(raw)
    for stream in (sys.stdout, sys.stderr):
        # The last line of defence for a file name that is not UTF-8 (lines use display_path already): a strict
        # UTF-8 terminal must get a replacement character, never a UnicodeEncodeError halfway through a batch.
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            reconfigure(errors="replace")
    args = parser.parse_args(raw)
    configure(getattr(args, "quiet", False), getattr(args, "verbose", False), getattr(args, "as_json", False))
    try:
        return int(args.handler(args))
    except BrokenPipeError:
        # Python would print a second error flushing stdout at exit: point it at /dev/null first.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return BROKEN_PIPE_STATUS
    finally:
        configure()


def main(argv: Sequence[str] | None = None) -> int:
    """Run `geotag`; returns the exit status."""
    return run_command(geotag_parser, argv)


def geotag_parser(argv: Sequence[str] = ()) -> argparse.ArgumentParser:
    """The parser of `geotag` for these arguments: only the chosen command's module is imported (see
    COMMAND_HOMES); with no known command, every command's."""
    return build_command_parser("geotag", "Find and write where photos were taken.",
                                chosen_modules(argv, COMMAND_MODULES, COMMAND_HOMES))


if __name__ == "__main__":
    sys.exit(main())
