"""Leases: a named right to do work that only one process of a deployment may do at a time.

A lease row names its holder and when it lapses. Taking it succeeds when it is free, lapsed or
already ours; a holder that dies simply stops renewing, and another takes over after the lapse.
Writers re-check (and extend) the lease inside their own transaction (``extend``), so a holder that lost it
while paused cannot write afterwards.
"""

from __future__ import annotations

from sqlalchemy import Connection, delete, insert, or_, update

from openkms.store.schema import leases


def renew(conn: Connection, name: str, holder: str, now: float, ttl: float) -> bool:
    """Extend the lease if it is ours or has lapsed; False if another holder has it."""
    result = conn.execute(
        update(leases)
        .where(leases.c.name == name, or_(leases.c.holder == holder, leases.c.expires_at <= now))
        .values(holder=holder, expires_at=now + ttl)
    )
    return result.rowcount == 1


def create(conn: Connection, name: str, holder: str, now: float, ttl: float) -> None:
    """Insert the lease row; a Conflict means someone else created it first."""
    conn.execute(insert(leases).values(name=name, holder=holder, expires_at=now + ttl))


def extend(conn: Connection, name: str, holder: str, now: float, ttl: float) -> bool:
    """Extend a lease ``holder`` still holds; False if it lapsed or is someone else's.

    Being an UPDATE, it also locks the row until the caller commits, so the lease cannot
    change hands in the middle of the caller's transaction.
    """
    result = conn.execute(
        update(leases)
        .where(leases.c.name == name, leases.c.holder == holder, leases.c.expires_at > now)
        .values(expires_at=now + ttl)
    )
    return result.rowcount == 1


def release(conn: Connection, name: str, holder: str) -> None:
    conn.execute(delete(leases).where(leases.c.name == name, leases.c.holder == holder))
