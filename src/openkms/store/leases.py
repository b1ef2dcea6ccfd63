"""Leases: a named right to do work that only one process of a deployment may do at a time.

A lease row names its holder and when it lapses. Taking it succeeds when it is free, lapsed or
already ours; a holder that dies simply stops renewing, and another takes over after the lapse.
Writers re-check (and extend) the lease inside their own transaction (``extend``), so a holder that lost it
while paused cannot write afterwards.

Functions take ``q``, a transaction or the Database (see the package docstring); ``extend``
takes the caller's own write transaction.
"""

from __future__ import annotations

from sqlalchemy import bindparam, delete, insert, or_, update

from openkms.store.engine import Database, Tx
from openkms.store.schema import leases

__all__ = ["create", "extend", "release", "renew"]

_RENEW = (
    update(leases)
    .where(
        leases.c.name == bindparam("lease"),
        or_(leases.c.holder == bindparam("by"), leases.c.expires_at <= bindparam("now")),
    )
    .values(holder=bindparam("by"), expires_at=bindparam("until"))
)
_CREATE = insert(leases).values(
    name=bindparam("lease"), holder=bindparam("by"), expires_at=bindparam("until")
)
_EXTEND = (
    update(leases)
    .where(
        leases.c.name == bindparam("lease"),
        leases.c.holder == bindparam("by"),
        leases.c.expires_at > bindparam("now"),
    )
    .values(expires_at=bindparam("until"))
)
_RELEASE = delete(leases).where(leases.c.name == bindparam("lease"), leases.c.holder == bindparam("by"))


def renew(q: Tx | Database, name: str, holder: str, now: float, ttl: float) -> bool:
    """Extend the lease if it is ours or has lapsed; False if another holder has it."""
    return q.run(_RENEW, {"lease": name, "by": holder, "now": now, "until": now + ttl}) == 1


def create(q: Tx | Database, name: str, holder: str, now: float, ttl: float) -> None:
    """Insert the lease row; a Conflict means someone else created it first."""
    q.run(_CREATE, {"lease": name, "by": holder, "until": now + ttl})


def extend(tx: Tx, name: str, holder: str, now: float, ttl: float) -> bool:
    """Extend a lease ``holder`` still holds; False if it lapsed or is someone else's.

    Being an UPDATE, it also locks the row until the caller commits, so the lease cannot
    change hands in the middle of the caller's transaction.
    """
    return tx.run(_EXTEND, {"lease": name, "by": holder, "now": now, "until": now + ttl}) == 1


def release(q: Tx | Database, name: str, holder: str) -> None:
    q.run(_RELEASE, {"lease": name, "by": holder})
