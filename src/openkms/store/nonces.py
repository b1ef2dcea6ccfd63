"""The replay guard's records on PostgreSQL: the ``nonces`` table of the shared database.

The table is not part of the migrated schema (``schema.nonce_metadata``): a PostgreSQL
deployment makes it at start (:func:`create_table`), an embedded one keeps its records in the
node's files (store/nonce_table.py). The primary key (access_key_id, nonce) makes a second use
of a nonce fail atomically, in whichever node it arrives.

Requests claim their nonces through a :class:`ClaimConnection`: a connection of its own that
records a whole group of claims with one statement (service/nonces.py gathers the group).
Functions take ``q``, a transaction or the Database (see the package docstring).
"""

from __future__ import annotations

import contextlib
import os
import socket
from collections.abc import Iterable, Sequence
from typing import Any

import psycopg
from sqlalchemy import Engine, bindparam, delete, insert, select, text, tuple_, update
from sqlalchemy.exc import OperationalError

from openkms.store.engine import Database, Tx
from openkms.store.schema import nonce_metadata, nonces

__all__ = [
    "ClaimConnection",
    "create_table",
    "delete_expired",
    "estimate",
    "reclaim",
    "record",
    "unavailable",
]

# One statement for a group of any size (so it is prepared once): the rows that were new. The
# three columns travel as array literals (_array): one string each, which the driver sends as
# it is, where a list would be converted element by element.
_CLAIM_SQL = (
    "INSERT INTO nonces (access_key_id, nonce, expires_at)"
    " SELECT * FROM unnest(%s::text::varchar[], %s::text::varchar[], %s::text::float8[])"
    " ON CONFLICT DO NOTHING RETURNING access_key_id, nonce"
)
_RECLAIM_SQL = "UPDATE nonces SET expires_at = %s WHERE access_key_id = %s AND nonce = %s AND expires_at < %s"


def unavailable(why: BaseException | str) -> OperationalError:
    """The pool's kind of failure, which the server answers 503 (store.UNAVAILABLE)."""
    return OperationalError("nonce claim", None, why if isinstance(why, BaseException) else Exception(why))


def _array(values: Iterable[str]) -> str:
    """A PostgreSQL array literal of strings: each element double-quoted, with its backslashes
    and double quotes escaped (any other character, a comma or a brace included, is literal
    inside quotes)."""
    return "{" + ",".join('"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"' for v in values) + "}"


class ClaimConnection:
    """A PostgreSQL connection of its own for nonce claims, outside the pool.

    Each statement is its own transaction (autocommit). With ``synchronous_commit`` off (the
    default, docs/deployment.md "Replay protection"), a claim is answered once PostgreSQL has
    it in memory and its WAL is written by PostgreSQL's WAL writer within
    ``3 x wal_writer_delay`` (600 ms by default): a crash of PostgreSQL itself (not of a node)
    can forget the claims of that last fraction of a second. A failure closes the connection;
    the next call opens another. Not thread-safe: one caller at a time.
    """

    def __init__(self, db: Database, *, synchronous_commit: bool = False) -> None:
        self._db = db
        self._synchronous_commit = synchronous_commit
        self._conn: Any = None

    def _connection(self) -> Any:
        if self._conn is None or self._conn.closed:
            conn = self._db.own_connection()
            conn.autocommit = True
            if not self._synchronous_commit:
                conn.execute("SET synchronous_commit = off")
            self._conn = conn
        return self._conn

    def claim(self, records: Sequence[tuple[str, str, float]]) -> set[tuple[str, str]]:
        """Record (access key id, nonce, expires at) rows that are new; return which were. A
        row already present, live or expired, is left as it is and not returned."""
        columns = (
            _array(r[0] for r in records),
            _array(r[1] for r in records),
            "{" + ",".join(repr(float(r[2])) for r in records) + "}",
        )
        rows = self._execute(_CLAIM_SQL, columns)
        return {(r[0], r[1]) for r in rows}

    def reclaim(self, access_key_id: str, nonce: str, expires_at: float, now: float) -> bool:
        """Take over a record that expired before ``now``; False if it is still live."""
        cur = self._execute_cursor(_RECLAIM_SQL, (expires_at, access_key_id, nonce, now))
        return bool(cur.rowcount == 1)

    def _execute(self, sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
        return list(self._execute_cursor(sql, params).fetchall())

    def _execute_cursor(self, sql: str, params: Sequence[Any]) -> Any:
        try:
            return self._connection().execute(sql, params, prepare=True)
        except psycopg.OperationalError as exc:
            self.close()
            raise unavailable(exc) from None

    def cut(self) -> None:
        """Shut the connection's socket down, from any thread: a statement waiting on it fails
        at once (the database stopped answering), and the next call connects again."""
        conn = self._conn
        if conn is None or conn.closed:
            return
        with contextlib.suppress(OSError), socket.socket(fileno=os.dup(conn.fileno())) as sock:
            sock.shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(psycopg.Error):
                self._conn.close()
            self._conn = None


_RECORD = insert(nonces).values(
    access_key_id=bindparam("ak"), nonce=bindparam("n"), expires_at=bindparam("until")
)
# Only an expired record (one the pruner has not reached yet) may be reclaimed.
_RECLAIM = (
    update(nonces)
    .where(
        nonces.c.access_key_id == bindparam("ak"),
        nonces.c.nonce == bindparam("n"),
        nonces.c.expires_at < bindparam("now"),
    )
    .values(expires_at=bindparam("until"))
)


def create_table(engine: Engine) -> None:
    """Make the table unless it exists."""
    nonce_metadata.create_all(engine, checkfirst=True)


def record(q: Tx | Database, access_key_id: str, nonce: str, expires_at: float) -> None:
    """Record a nonce until ``expires_at``; :class:`~openkms.store.Conflict` if a record of it
    exists (expired or not). On PostgreSQL that failure ends a transaction: pass the Database,
    so that :func:`reclaim` runs in a transaction of its own."""
    q.run(_RECORD, {"ak": access_key_id, "n": nonce, "until": expires_at})


def reclaim(q: Tx | Database, access_key_id: str, nonce: str, expires_at: float, now: float) -> bool:
    """Take over a nonce's record if it expired before ``now``, recording it until
    ``expires_at``; False if the record is still live."""
    params = {"ak": access_key_id, "n": nonce, "until": expires_at, "now": now}
    return q.run(_RECLAIM, params) == 1


def estimate(q: Tx | Database) -> int | None:
    """The planner's row count of the table (``pg_class.reltuples``, kept by autovacuum and
    ANALYZE): a catalogue read, never a scan; None before the table was first analyzed."""
    rows = q.scalar(text("SELECT reltuples FROM pg_class WHERE oid = to_regclass('nonces')"))
    return None if rows is None or rows < 0 else int(rows)


def delete_expired(tx: Tx, now: float, limit: int) -> int:
    """Delete up to ``limit`` records expired before ``now``, the longest expired first; how
    many."""
    expired = (
        select(nonces.c.access_key_id, nonces.c.nonce)
        .where(nonces.c.expires_at < now)
        .order_by(nonces.c.expires_at)
        .limit(limit)
    )
    found = [(r["access_key_id"], r["nonce"]) for r in tx.all(expired)]
    if found:
        tx.run(delete(nonces).where(tuple_(nonces.c.access_key_id, nonces.c.nonce).in_(found)))
    return len(found)
