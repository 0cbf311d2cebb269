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
from collections.abc import Sequence

from geocore import __version__
from geocore.cli.output import EXIT_CODES_HELP, EXIT_USAGE, configure

# Each module exposes `register(subparsers)`; parsers set `handler=callable(args) -> int`.
COMMAND_MODULES = (
    "geocore.cli.library_commands",
    "geocore.cli.predict_command",
    "geocore.cli.time_commands",
    "geocore.cli.map_command",
)
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


def run_command(parser: argparse.ArgumentParser, argv: Sequence[str] | None) -> int:
    """Parse `argv` and run the chosen sub-command's handler; returns its exit status.

    `geotag scan --json-lines | head` closes the pipe early: that ends the command quietly, as for any Unix tool.
    """
    raw = list(sys.argv[1:] if argv is None else argv)
    try:
        raw = expand_argfiles(raw)
    except ArgfileError as error:
        print(f"{parser.prog}: {error}", file=sys.stderr)
        return EXIT_USAGE
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
    parser = build_command_parser("geotag", "Find and write where photos were taken.", COMMAND_MODULES)
    return run_command(parser, argv)


if __name__ == "__main__":
    sys.exit(main())
