"""Sub-command `geotag map`: one self-contained HTML trip map (positions, thumbnails, tracks), offline.

    geotag map ~/Pictures/Lisbon --out lisbon.html
    geotag map ~/Pictures/Lisbon --track hike.gpx --out lisbon.html

Photos are scanned into the library first (as `geotag scan`); a photo shows its file position or the decision
the app's list shows for it. Exit status: 0 written, 1 the map could not be written, 2 bad usage.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from geotagger.geocore.cli.library_commands import add_db_option, open_session
from geotagger.geocore.cli.output import MODE, print_json
from geotagger.geocore.workflow import Reporter


def _map(args: argparse.Namespace) -> int:
    from geotagger.geocore.mapping.trip import export_trip

    missing = [p for p in list(args.paths) + list(args.track) if not Path(p).exists()]
    if missing:
        for path in missing:
            print(f"not found: {path}", file=sys.stderr)
        return 2
    with open_session(args) as session:
        result = session.scan([Path(p) for p in args.paths], Reporter())
        problems: list[str] = []
        try:
            drawn = export_trip(session, result.photo_ids, args.out, [Path(t) for t in args.track], problems=problems)
        except OSError as error:
            print(f"{args.out}: {error.strerror or error}", file=sys.stderr)
            return 1
        placed = sum(1 for view in session.views(result.photo_ids) if view.has_location)
    for problem in problems:
        print(f"FAILED  {problem}", file=sys.stderr)
    if MODE.json:
        print_json({"operation": "map", "out": str(args.out), "photos": len(result.photo_ids), "placed": placed,
                    "tracks": drawn, "unreadable_tracks": problems, "exit_status": 1 if problems else 0})
    elif not args.quiet:
        print(f"{args.out}: {placed} of {len(result.photo_ids)} photos placed, {drawn} tracks"
              + (f" ({len(problems)} unreadable, left out)" if problems else ""))
    return 1 if problems else 0


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add `geotag map`."""
    parser = subparsers.add_parser("map", help="write a self-contained HTML trip map of photos and tracks",
                                   description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("paths", nargs="+", metavar="PATH", help="photos or folders")
    parser.add_argument("--out", type=Path, required=True, help="the HTML file to write")
    parser.add_argument("--track", action="append", default=[], metavar="FILE", help="a GPS track to draw")
    add_db_option(parser)
    parser.set_defaults(handler=_map)
