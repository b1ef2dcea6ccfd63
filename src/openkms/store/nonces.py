"""The replay guard's records on PostgreSQL: the ``nonces`` table of the shared database.

The table is not part of the migrated schema (``schema.nonce_metadata``): a PostgreSQL
deployment makes it at start (:func:`create_table`), an embedded one keeps its records in the
node's files (store/nonce_table.py). The primary key (access_key_id, nonce) makes a second use
of a nonce fail atomically, in whichever node it arrives.

Functions take ``q``, a transaction or the Database (see the package docstring); the two a
request runs (:func:`record`, :func:`reclaim`) are module constants for the hot path.
"""

from __future__ import annotations

from sqlalchemy import Engine, bindparam, delete, insert, select, tuple_, update

from openkms.store.engine import Database, Tx
from openkms.store.schema import nonce_metadata, nonces

__all__ = ["create_table", "delete_expired", "reclaim", "record"]

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
