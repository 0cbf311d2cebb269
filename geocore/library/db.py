"""The SQLite cache: schema, migrations and the engine (WAL, durable commits, foreign keys).

One writer at a time (callers hold `Database.write_lock`), any number of readers: WAL lets readers run while a
write transaction is open. `synchronous=FULL` because the write journal must be on disk before a file is replaced.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Dialect, Engine

SCHEMA_VERSION = 5
DB_ENV_VAR = "GEOTAGGER_DB"

metadata = sa.MetaData()


class FsPath(sa.types.TypeDecorator[str]):
    """A file path stored as the bytes the OS uses for it (a BLOB), read back as the str Python gives that file.

    POSIX names are bytes: one that is not UTF-8 (b'caf\\xe9.jpg') is a str with surrogate escapes in Python, which
    SQLite's text cannot hold. os.fsencode/os.fsdecode are exact inverses, and bytes compare and sort in SQLite as
    UTF-8 text did, so equality, IN (...), ORDER BY and byte-prefix (substr) queries behave as before.
    """

    impl = sa.LargeBinary
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> bytes | None:
        """str/Path/bytes -> the OS bytes of the name."""
        return None if value is None else os.fsencode(value)

    def process_result_value(self, value: Any, dialect: Dialect) -> str | None:
        """The OS bytes -> the same str os.listdir would give."""
        return None if value is None else os.fsdecode(value)


def path_prefix_bytes(folder: str) -> bytes:
    """The OS bytes a path under `folder` starts with (for `substr(path, 1, n) = prefix` on an FsPath column)."""
    return os.fsencode(folder.rstrip(os.sep) + os.sep)

meta_table = sa.Table("meta", metadata, sa.Column("key", sa.String, primary_key=True), sa.Column("value", sa.String))

photos = sa.Table(
    "photos", metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("path", FsPath, nullable=False, unique=True),
    sa.Column("size", sa.Integer), sa.Column("mtime_ns", sa.Integer), sa.Column("head_hash", sa.String),
    sa.Column("kind", sa.String),
    sa.Column("capture_time", sa.String), sa.Column("capture_offset", sa.String),
    sa.Column("make", sa.String), sa.Column("model", sa.String), sa.Column("orientation", sa.Integer),
    sa.Column("width", sa.Integer), sa.Column("height", sa.Integer),
    sa.Column("gps_lat", sa.Float), sa.Column("gps_lon", sa.Float), sa.Column("gps_alt_m", sa.Float),
    sa.Column("gps_source", sa.String),
    sa.Column("sidecar_mtime_ns", sa.Integer),
    sa.Column("thumbnail_path", FsPath),
    sa.Column("error_kind", sa.String), sa.Column("error", sa.String),
    sa.Column("scanned_ns", sa.Integer),
)

predictions = sa.Table(
    "predictions", metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("photo_id", sa.Integer, sa.ForeignKey("photos.id", ondelete="CASCADE"), nullable=False, index=True),
    sa.Column("model_id", sa.String, nullable=False), sa.Column("settings_key", sa.String, nullable=False),
    sa.Column("payload_json", sa.Text),
    sa.Column("lat", sa.Float), sa.Column("lon", sa.Float), sa.Column("radius_km", sa.Float),
    sa.Column("created_ns", sa.Integer),
    sa.UniqueConstraint("photo_id", "model_id", "settings_key"),
)

decisions = sa.Table(
    "decisions", metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("photo_id", sa.Integer, sa.ForeignKey("photos.id", ondelete="CASCADE"), nullable=False, index=True),
    sa.Column("state", sa.String, nullable=False),  # proposed | accepted | rejected | written
    sa.Column("source", sa.String, nullable=False),  # model | personal_model | gps_track | time_neighbour | manual
    sa.Column("lat", sa.Float, nullable=False), sa.Column("lon", sa.Float, nullable=False),
    sa.Column("radius_km", sa.Float), sa.Column("altitude_m", sa.Float),
    sa.Column("place_city", sa.String), sa.Column("place_state", sa.String),
    sa.Column("place_country", sa.String), sa.Column("place_country_code", sa.String),
    sa.Column("review", sa.Boolean, default=False), sa.Column("notes", sa.Text),
    sa.Column("batch_id", sa.String),
    sa.Column("created_ns", sa.Integer), sa.Column("updated_ns", sa.Integer),
    sa.Column("fix_utc_s", sa.Float),  # a track fix's instant (UTC seconds): written as GPSDateStamp/GPSTimeStamp
)

batches = sa.Table(
    "batches", metadata,
    sa.Column("id", sa.String, primary_key=True),
    sa.Column("operation", sa.String, nullable=False),  # write | strip | undo
    sa.Column("created_ns", sa.Integer),
)

journal = sa.Table(
    "journal", metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("batch_id", sa.String, sa.ForeignKey("batches.id"), nullable=False, index=True),
    sa.Column("photo_id", sa.Integer), sa.Column("decision_id", sa.Integer),
    sa.Column("path", FsPath, nullable=False, index=True),
    sa.Column("target", sa.String, nullable=False),  # photo | sidecar
    sa.Column("state", sa.String, nullable=False),  # pending | done | abandoned | undone
    sa.Column("original_existed", sa.Boolean, nullable=False),
    sa.Column("original_sha256", sa.String), sa.Column("written_sha256", sa.String),
    sa.Column("patches", sa.LargeBinary),  # encode_patches(): turns the original into the written file
    sa.Column("mode", sa.Integer), sa.Column("mtime_ns", sa.Integer),
    sa.Column("created_ns", sa.Integer), sa.Column("updated_ns", sa.Integer),
    # The photo's cache row before the change (JSON, journal.CACHED_FIELDS): what an undo puts back in the cache
    # with the original bytes, without parsing them again. None for sidecars, undo rows and rows before version 5.
    sa.Column("original_row", sa.Text),
)

features = sa.Table(
    "features", metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("photo_id", sa.Integer, sa.ForeignKey("photos.id", ondelete="CASCADE"), nullable=False),
    sa.Column("model_id", sa.String, nullable=False),
    sa.Column("head_hash", sa.String, nullable=False),
    sa.Column("dim", sa.Integer, nullable=False),
    sa.Column("vector", sa.LargeBinary, nullable=False),  # float32, little-endian
    sa.UniqueConstraint("photo_id", "model_id"),
)


def _migrate_1_to_2(connection: Connection) -> None:
    """Version 2 added the backbone-feature cache for the personal model."""
    features.create(connection, checkfirst=True)


def _migrate_2_to_3(connection: Connection) -> None:
    """Version 3 stores paths as OS bytes (FsPath): the UTF-8 text of older rows becomes the same bytes."""
    for table, column in (("photos", "path"), ("photos", "thumbnail_path"), ("journal", "path")):
        connection.exec_driver_sql(f"UPDATE {table} SET {column} = CAST({column} AS BLOB) "
                                   f"WHERE typeof({column}) = 'text'")


def _migrate_3_to_4(connection: Connection) -> None:
    """Version 4 keeps the instant of a track fix with its decision (GPS date and time stamps, exiftool -geosync)."""
    columns = {row[1] for row in connection.exec_driver_sql("PRAGMA table_info(decisions)")}
    if "fix_utc_s" not in columns:
        connection.exec_driver_sql("ALTER TABLE decisions ADD COLUMN fix_utc_s REAL")


def _migrate_4_to_5(connection: Connection) -> None:
    """Version 5 keeps the photo's cache row from before each change with its journal row (undo restores it)."""
    columns = {row[1] for row in connection.exec_driver_sql("PRAGMA table_info(journal)")}
    if "original_row" not in columns:
        connection.exec_driver_sql("ALTER TABLE journal ADD COLUMN original_row TEXT")


MIGRATIONS: dict[int, Callable[[Connection], None]] = {2: _migrate_1_to_2, 3: _migrate_2_to_3, 4: _migrate_3_to_4,
                                                       5: _migrate_4_to_5}


def default_db_path() -> Path:
    """$GEOTAGGER_DB, else `library.sqlite3` in the per-user data folder."""
    override = os.environ.get(DB_ENV_VAR)
    if override:
        return Path(override)
    import appdirs

    return Path(appdirs.user_data_dir("Geotagger", "Geotagger")) / "library.sqlite3"


def _on_checkout(dbapi_connection: object, _record: object, _proxy: object) -> None:
    """Every connection handed out commits durably (the one place that sets it), whatever a `settling` transaction
    set before giving it back."""
    cursor = dbapi_connection.cursor()  # type: ignore[attr-defined]
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.close()


def _on_connect(dbapi_connection: object, _record: object) -> None:
    cursor = dbapi_connection.cursor()  # type: ignore[attr-defined]
    cursor.execute("PRAGMA journal_mode=WAL")  # synchronous=FULL is set on every checkout (_on_checkout)
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def schema_version(connection: Connection) -> int | None:
    """The stored schema version, None for an empty database."""
    if not sa.inspect(connection).has_table("meta"):
        return None
    value = connection.execute(sa.select(meta_table.c.value).where(meta_table.c.key == "schema_version")).scalar()
    return int(value) if value is not None else None


def migrate(engine: Engine) -> int:
    """Create or upgrade the schema to SCHEMA_VERSION; returns the version found before."""
    with engine.begin() as connection:
        found = schema_version(connection)
        if found == SCHEMA_VERSION:
            return found  # up to date: no write, so no commit and fsync on every open of the cache
        if found is None:
            metadata.create_all(connection)
        else:
            if found > SCHEMA_VERSION:
                raise RuntimeError(f"cache schema {found} is newer than this program ({SCHEMA_VERSION})")
            for version in range(found + 1, SCHEMA_VERSION + 1):
                MIGRATIONS[version](connection)
        connection.execute(sa.delete(meta_table).where(meta_table.c.key == "schema_version"))
        connection.execute(sa.insert(meta_table).values(key="schema_version", value=str(SCHEMA_VERSION)))
    return found or 0


class Database:
    """Engine plus the lock that makes all writes go one at a time."""

    def __init__(self, path: Path | str | None = None) -> None:
        self.path = Path(path) if path is not None else default_db_path()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.engine = sa.create_engine(
            f"sqlite:///{self.path}", connect_args={"check_same_thread": False, "timeout": 30}
        )
        sa.event.listen(self.engine, "connect", _on_connect)
        sa.event.listen(self.engine, "checkout", _on_checkout)
        self.write_lock = threading.RLock()
        migrate(self.engine)

    @contextlib.contextmanager
    def settling(self) -> Iterator[Connection]:
        """A write transaction whose commit does not wait for the disk (WAL, synchronous=NORMAL), for rows a crash may
        lose without harm: the journal's settled states. Their 'pending' rows were committed durably before any file
        was replaced, and `journal.recover` settles such rows again from the files; in the WAL the commit stays
        ordered before the next durable one, which makes it durable too. Saves an fsync per chunk of a batch."""
        with self.write_lock, self.engine.connect() as connection:
            connection.exec_driver_sql("PRAGMA synchronous=NORMAL")  # before BEGIN: it applies to this commit
            connection.commit()  # ends SQLAlchemy's autobegun transaction (SQLite opened none for a PRAGMA)
            with connection.begin():
                yield connection

    def close(self) -> None:
        """Release all connections."""
        self.engine.dispose()
