"""The audit trail's rows: chains (each one's head) and their events (domain/audit.py).

Functions take ``q``, a transaction or the Database (see the package docstring).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import bindparam, delete, func, insert, select, update

from openkms.store.engine import Database, Tx
from openkms.store.schema import audit_chains, audit_events

__all__ = [
    "Chain",
    "EventRow",
    "append",
    "chain",
    "chains",
    "close",
    "count",
    "events",
    "last_before",
    "last_event",
    "latest",
    "move_head",
    "prune",
    "start",
    "touch",
    "window",
]


@dataclass(frozen=True, slots=True)
class Chain:
    chain: str
    node: str
    started: float
    kek_version: int
    seq: int
    mac: bytes
    head: bytes
    closed: bool
    pruned_seq: int
    pruned_mac: bytes


@dataclass(frozen=True, slots=True)
class EventRow:
    chain: str
    seq: int
    at: float
    account_uid: str
    event_name: str
    event: str
    mac: bytes


_INSERT_EVENT = insert(audit_events).values(
    chain=bindparam("c"),
    seq=bindparam("s"),
    at=bindparam("a"),
    account_uid=bindparam("u"),
    event_name=bindparam("n"),
    event=bindparam("e"),
    mac=bindparam("m"),
)
_MOVE_HEAD = (
    update(audit_chains)
    .where(audit_chains.c.chain == bindparam("c"))
    .values(seq=bindparam("s"), mac=bindparam("m"), head=bindparam("h"))
)
_CHAIN = select(audit_chains).where(audit_chains.c.chain == bindparam("c"))
_CHAINS = select(audit_chains).order_by(audit_chains.c.started, audit_chains.c.chain)
_COUNT = select(func.count()).select_from(audit_events)


def start(q: Tx | Database, row: Chain) -> None:
    q.run(insert(audit_chains).values(**{f: getattr(row, f) for f in Chain.__slots__}))


def append(
    chain_id: str, rows: Sequence[tuple[int, float, str, str, str, bytes]], head: bytes | None
) -> list[tuple[Any, list[dict[str, Any]]]]:
    """The statements that add events ``(seq, at, account_uid, event_name, event, mac)`` to a
    chain and, given the head's new MAC, move its head to the last of them: for
    ``Database.run_batch`` (one transaction, the audit writer's group commit)."""
    steps: list[tuple[Any, list[dict[str, Any]]]] = [
        (
            _INSERT_EVENT,
            [{"c": chain_id, "s": s, "a": a, "u": u, "n": n, "e": e, "m": m} for s, a, u, n, e, m in rows],
        )
    ]
    if head is not None:
        last = rows[-1]
        steps.append((_MOVE_HEAD, [{"c": chain_id, "s": last[0], "m": last[5], "h": head}]))
    return steps


def move_head(q: Tx | Database, chain_id: str, seq: int, mac: bytes, head: bytes) -> None:
    q.run(_MOVE_HEAD, {"c": chain_id, "s": seq, "m": mac, "h": head})


def touch(tx: Tx, chain_id: str) -> None:
    """Write nothing new to a chain's row: proves the database takes writes again."""
    tx.run(update(audit_chains).where(audit_chains.c.chain == chain_id).values(seq=audit_chains.c.seq))


def close(q: Tx | Database, chain_id: str) -> None:
    q.run(update(audit_chains).where(audit_chains.c.chain == chain_id).values(closed=True))


def chain(q: Tx | Database, chain_id: str) -> Chain | None:
    row = q.first(_CHAIN, {"c": chain_id})
    return Chain(**row) if row is not None else None


def chains(q: Tx | Database) -> list[Chain]:
    return [Chain(**row) for row in q.all(_CHAINS)]


def count(q: Tx | Database) -> int:
    return int(q.scalar(_COUNT) or 0)


def events(db: Database, chain_id: str, after: int = 0, batch: int = 1000) -> Iterator[EventRow]:
    """A chain's events in seq order from ``after`` + 1, read in batches."""
    stmt = (
        select(audit_events)
        .where(audit_events.c.chain == bindparam("c"), audit_events.c.seq > bindparam("after"))
        .order_by(audit_events.c.seq)
        .limit(batch)
    )
    while True:
        with db.read() as tx:
            rows = [EventRow(**r) for r in tx.all(stmt, {"c": chain_id, "after": after})]
        yield from rows
        if len(rows) < batch:
            return
        after = rows[-1].seq


def window(
    db: Database, since: float | None, until: float | None, account_uid: str | None, batch: int = 1000
) -> Iterator[EventRow]:
    """Every chain's events in time order (then chain, seq), filtered, read in batches."""
    conds = []
    if since is not None:
        conds.append(audit_events.c.at >= since)
    if until is not None:
        conds.append(audit_events.c.at < until)
    if account_uid is not None:
        conds.append(audit_events.c.account_uid == account_uid)
    order = (audit_events.c.at, audit_events.c.chain, audit_events.c.seq)
    offset = 0
    while True:
        stmt = select(audit_events).where(*conds).order_by(*order).limit(batch).offset(offset)
        with db.read() as tx:
            rows = [EventRow(**r) for r in tx.all(stmt)]
        yield from rows
        if len(rows) < batch:
            return
        offset += len(rows)


def latest(q: Tx | Database, n: int) -> list[EventRow]:
    """The ``n`` newest events of every chain, oldest first."""
    order = (audit_events.c.at.desc(), audit_events.c.chain.desc(), audit_events.c.seq.desc())
    rows = [EventRow(**r) for r in q.all(select(audit_events).order_by(*order).limit(n))]
    return rows[::-1]


def last_event(q: Tx | Database, chain_id: str) -> tuple[int, bytes] | None:
    """(seq, MAC) of a chain's last event."""
    stmt = (
        select(audit_events.c.seq, audit_events.c.mac)
        .where(audit_events.c.chain == chain_id)
        .order_by(audit_events.c.seq.desc())
        .limit(1)
    )
    row = q.first(stmt)
    return (int(row["seq"]), bytes(row["mac"])) if row is not None else None


def last_before(q: Tx | Database, chain_id: str, before: float) -> EventRow | None:
    """A chain's newest event written before ``before``."""
    stmt = (
        select(audit_events)
        .where(audit_events.c.chain == chain_id, audit_events.c.at < before)
        .order_by(audit_events.c.seq.desc())
        .limit(1)
    )
    row = q.first(stmt)
    return EventRow(**row) if row is not None else None


def prune(tx: Tx, chain_id: str, through: int, mac: bytes, head: bytes) -> int:
    """Delete a chain's events up to seq ``through`` (whose MAC is ``mac``) and record where
    verification picks the chain up, under the head's new MAC; the number deleted."""
    gone = tx.run(delete(audit_events).where(audit_events.c.chain == chain_id, audit_events.c.seq <= through))
    tx.run(
        update(audit_chains)
        .where(audit_chains.c.chain == chain_id)
        .values(pruned_seq=through, pruned_mac=mac, head=head)
    )
    return gone
