"""The journal's settled states are committed without waiting for the disk, and only they: every other connection
the library hands out commits durably (the write journal must be on disk before a file is replaced)."""

from __future__ import annotations

import sqlalchemy as sa

from geotagger.geocore.library import db as schema

FULL, NORMAL = 2, 1


def _synchronous(connection: sa.Connection) -> int:
    return int(connection.exec_driver_sql("PRAGMA synchronous").scalar())


def test_settling_commits_without_fsync_and_leaves_every_other_connection_durable(tmp_path) -> None:
    database = schema.Database(tmp_path / "lib.sqlite3")
    with database.engine.connect() as connection:
        assert _synchronous(connection) == FULL
    with database.settling() as connection:
        assert _synchronous(connection) == NORMAL
        connection.execute(sa.insert(schema.batches).values(id="b1", operation="write", created_ns=1))
        relaxed = connection.connection.dbapi_connection
    # the same pooled connection comes back: durable again, and the settled row is committed
    with database.engine.begin() as connection:
        assert connection.connection.dbapi_connection is relaxed
        assert _synchronous(connection) == FULL
        assert connection.execute(sa.select(schema.batches.c.id)).scalars().all() == ["b1"]
    database.close()


def test_a_failed_settling_rolls_back_and_the_connection_is_durable_again(tmp_path) -> None:
    database = schema.Database(tmp_path / "lib.sqlite3")
    try:
        with database.settling() as connection:
            connection.execute(sa.insert(schema.batches).values(id="b1", operation="write", created_ns=1))
            raise RuntimeError("a bug while settling")
    except RuntimeError:
        pass
    with database.engine.connect() as connection:
        assert _synchronous(connection) == FULL
        assert connection.execute(sa.select(schema.batches.c.id)).scalars().all() == []
    database.close()
