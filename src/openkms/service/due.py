"""Work through what has fallen due (keys to destroy, material to expire, secrets to purge), one
item per transaction, under the job lease.

Each item is re-read and acted on in a write transaction of its own that first re-checks the
lease (``fence``), so a crash between items leaves each whole or untouched, running again
finishes the rest, and a runner that lost its lease stops before its next write.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from openkms.store import Database, Tx

__all__ = ["each_due"]

# What names one item: a key id, or a secret's (account, name).
Item = TypeVar("Item")


def each_due(
    db: Database,
    find_due: Callable[[Tx], list[Item]],
    act: Callable[[Tx, Item], bool],
    fence: Callable[[Tx], None],
    batch: int,
    *,
    after: Callable[[Item], None] | None = None,
) -> int:
    """Act on every item due; returns how many were acted on.

    Rounds until one comes up short: ``find_due`` lists up to ``batch`` due ids in a read
    transaction; then for each id a write transaction calls ``fence(tx)`` (which raises to stop
    everything) and ``act(tx, id)``. ``act`` re-reads the item there (locking its row) and acts
    only if it is still due, answering whether it did: what was due when listed may have been
    changed since (a deletion cancelled, material re-imported). ``after(id)`` runs for each item
    acted on once its transaction has committed (e.g. to drop it from a cache, which must not
    be refilled from what the commit removed).
    """
    done = 0
    while True:
        with db.read() as tx:
            due = find_due(tx)
        for item in due:
            with db.write() as tx:
                fence(tx)
                acted = act(tx, item)
            if acted:
                done += 1
                if after is not None:
                    after(item)
        if len(due) < batch:
            return done
