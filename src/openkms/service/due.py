"""The one loop of the jobs that act on rows whose time has come (keys to destroy, material to
expire, secrets to purge): read a batch of due ids, then act on each in a write transaction of
its own, fenced by the job lease and re-checked under the write lock."""

from __future__ import annotations

from collections.abc import Callable

from openkms.store import Database, Tx

__all__ = ["each_due"]


def each_due(
    db: Database,
    find_due: Callable[[Tx], list[str]],
    act: Callable[[Tx, str], bool],
    fence: Callable[[Tx], None],
    batch: int,
) -> int:
    """Act on every id ``find_due`` lists (at most ``batch`` per read) until a read lists fewer;
    returns how many ``act`` acted on (it answers False for an id no longer due when re-read).

    Each id is one write transaction that first calls ``fence`` (which raises if this process no
    longer holds the job lease), so a crash leaves every id either done or untouched, and a
    runner paused past its lease cannot write. Ids ``act`` skipped are not listed again by a
    correct ``find_due``, so the loop ends.
    """
    done = 0
    while True:
        with db.read() as tx:
            due = find_due(tx)
        for item in due:
            with db.write() as tx:
                fence(tx)
                if act(tx, item):
                    done += 1
        if len(due) < batch:
            return done
