"""Alembic migrations, run programmatically: ``openkms db upgrade``, ``serve --migrate`` and the
start-up check.

Several nodes (or several ``--workers`` processes) may start at once over one database. On
PostgreSQL the upgrade runs under a session advisory lock, so exactly one process migrates and
the others wait, then find the schema current; on SQLite an exclusive ``flock`` on a file beside
the database does the same for processes sharing the data directory.
"""

from __future__ import annotations

import fcntl
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util.exc import CommandError
from sqlalchemy import Connection, Engine, text

MIGRATIONS = Path(__file__).parent / "migrations"
# pg_advisory_lock key: int8 of "openkms\0" so it does not collide with an application's own.
ADVISORY_LOCK_KEY = int.from_bytes(b"openkms\0", "big") & 0x7FFF_FFFF_FFFF_FFFF


def _config(bind: Engine | Connection) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["connection" if isinstance(bind, Connection) else "engine"] = bind
    return cfg


def head_revision(engine: Engine) -> str | None:
    return ScriptDirectory.from_config(_config(engine)).get_current_head()


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def is_current(engine: Engine) -> bool:
    return current_revision(engine) == head_revision(engine)


def schema_state(engine: Engine) -> str:
    """``current``, ``older`` (empty, or a revision this code can upgrade) or ``newer`` (a
    revision this code does not know: the database was upgraded by a later openkms)."""
    current = current_revision(engine)
    scripts = ScriptDirectory.from_config(_config(engine))
    if current == scripts.get_current_head():
        return "current"
    if current is None:
        return "older"
    try:
        scripts.get_revision(current)
    except CommandError:
        return "newer"
    return "older"


@contextmanager
def schema_lock(engine: Engine) -> Iterator[Connection | None]:
    """Hold the deployment-wide schema lock; yields the locked connection on PostgreSQL."""
    if engine.dialect.name == "postgresql":
        with engine.connect() as conn:
            conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": ADVISORY_LOCK_KEY})
            conn.commit()  # the session lock outlives the transaction that took it
            try:
                yield conn
            finally:
                conn.rollback()
                conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": ADVISORY_LOCK_KEY})
                conn.commit()
        return
    database = engine.url.database
    if engine.dialect.name == "sqlite" and database and database != ":memory:":
        lock_path = Path(database).with_name(Path(database).name + ".migrate-lock")
        with open(lock_path, "a+b") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield None
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)
        return
    yield None


def upgrade(engine: Engine, then: Callable[[Engine], None] | None = None) -> None:
    """Bring the schema to head under the schema lock, then run ``then`` still holding it.

    ``engine`` should carry no statement timeout: waiting for another node's migration and a
    long migration are both legitimate.
    """
    with schema_lock(engine) as conn:
        if conn is not None:
            command.upgrade(_config(conn), "head")
            conn.commit()
        else:
            command.upgrade(_config(engine), "head")
        if then is not None:
            then(engine)
