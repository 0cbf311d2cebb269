"""`geotag-train partition`: build nested S2 or semantic partitionings and their hierarchy from a coordinates CSV."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from geotagger.geocore.geo.coordinates_file import CoordinateFileError, read_coordinates
from geotagger.geocore.geo.hierarchy import Hierarchy
from geotagger.geocore.geo.partitioning import Partitioning, PartitioningError, build_s2_partitionings

HIERARCHY_FILE = "hierarchy.csv"
EXIT_BAD_INPUT = 2


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the `partition` sub-command."""
    parser = subparsers.add_parser("partition", help="build nested partitionings (S2 or semantic) and their hierarchy")
    parser.add_argument("--coords", required=True, type=Path, help="CSV file with latitude and longitude columns")
    parser.add_argument("--lat-col", default=None, help="latitude column (default: LAT, lat or latitude)")
    parser.add_argument("--lon-col", default=None, help="longitude column (default: LON, lon or longitude)")
    parser.add_argument("--semantic", action="store_true", help="semantic partitionings from GeoNames addresses")
    parser.add_argument("--tau-min", required=True, type=int, nargs="+", help="minimum images per class")
    parser.add_argument("--tau-max", type=int, nargs="+", help="S2 only: split cells above these counts")
    parser.add_argument("--start-level", type=int, default=2, help="S2 only: start level (default 2)")
    parser.add_argument("--out", required=True, type=Path, help="output folder")
    parser.set_defaults(handler=run_partition)


def _build(args: argparse.Namespace) -> list[Partitioning]:
    lat, lon = read_coordinates(args.coords, args.lat_col, args.lon_col)
    if args.semantic:
        from geotagger.geocore.geo.semantic import build_semantic_partitionings

        return build_semantic_partitionings(lat, lon, args.tau_min)
    if len(args.tau_min) != 1 or not args.tau_max:
        raise PartitioningError("S2 partitionings need one --tau-min and at least one --tau-max (they must nest)")
    return build_s2_partitionings(lat, lon, args.tau_min[0], args.tau_max, args.start_level)


def run_partition(args: argparse.Namespace) -> int:
    """Build, write and summarise the partitionings; exit status 2 on bad input."""
    try:
        partitionings = _build(args)
        empty = [p.name for p in partitionings if len(p) == 0]
        if empty:
            raise PartitioningError(f"thresholds leave no cells in {', '.join(empty)}")
        hierarchy = Hierarchy(partitionings)
    except (CoordinateFileError, PartitioningError) as error:
        message = str(error) if str(error).startswith(str(args.coords)) else f"{args.coords}: {error}"
        print(f"geotag-train partition: error: {message}", file=sys.stderr)
        return EXIT_BAD_INPUT
    args.out.mkdir(parents=True, exist_ok=True)
    for partitioning in partitionings:
        partitioning.write_csv(args.out / f"{partitioning.name}.csv")
        print(f"{partitioning.name}: {len(partitioning)} cells, {int(partitioning.counts.sum())} images")
    hierarchy.write_csv(args.out / HIERARCHY_FILE)
    return 0
