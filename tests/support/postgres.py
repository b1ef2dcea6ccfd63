"""Throwaway PostgreSQL databases for tests: each server gets its own, dropped afterwards.

The server is the one on the project's machines (127.0.0.1:5432, trust auth; `.ci/run` starts
it). ``OPENKMS_TEST_POSTGRES_URL`` names another (a URL to its maintenance database), and
``OPENKMS_TEST_DATABASE=postgres`` runs the whole integration suite over PostgreSQL.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg
from sqlalchemy.engine import make_url

from tests.support.server import ServerProcess, running

ADMIN_URL = os.environ.get("OPENKMS_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
START_HINT = (
    "PostgreSQL is not reachable at {url}; start it with "
    "`pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start` (what .ci/run does)"
)


def backend() -> str:
    """The backend the shared `server` fixtures use: ``sqlite`` (default) or ``postgres``."""
    value = os.environ.get("OPENKMS_TEST_DATABASE", "sqlite").lower()
    return "postgres" if value in ("postgres", "postgresql", "pg") else "sqlite"


def _admin() -> psycopg.Connection:
    try:
        return psycopg.connect(ADMIN_URL, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as exc:
        raise RuntimeError(START_HINT.format(url=make_url(ADMIN_URL).render_as_string())) from exc


class PostgresDatabase:
    """A database with a unique name on the test server; ``create()`` then ``drop()``."""

    def __init__(self, prefix: str = "okt") -> None:
        self.name = f"{prefix}_{os.getpid()}_{secrets.token_hex(5)}"
        self.url = make_url(ADMIN_URL).set(database=self.name).render_as_string(hide_password=False)

    def create(self) -> PostgresDatabase:
        with _admin() as conn:
            conn.execute(f'CREATE DATABASE "{self.name}"')
        return self

    def drop(self) -> None:
        with _admin() as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')

    def connect(self) -> psycopg.Connection:
        """A direct connection for a test's own checks (autocommit)."""
        return psycopg.connect(self.url, autocommit=True, connect_timeout=5)

    def __enter__(self) -> PostgresDatabase:
        return self.create()

    def __exit__(self, *_: object) -> None:
        self.drop()


@contextmanager
def running_server(data_dir: Path, kind: str, **options: Any) -> Iterator[ServerProcess]:
    """A started server on ``kind`` (sqlite, or postgres over a database of its own, dropped after)."""
    db = PostgresDatabase().create() if kind == "postgres" else None
    try:
        with running(ServerProcess(data_dir, database=db.url if db is not None else None, **options)) as srv:
            yield srv
    finally:
        if db is not None:
            db.drop()
