"""Reads of mutable rows on the hot path, kept while the node has written nothing.

Encrypt, Decrypt and GetSecretValue read a key or a secret on every call: a SELECT of ~10-20 µs
(more with several in a snapshot), for rows that change rarely. On the embedded database every
committed write changes the node's write generation (store/generation.py), so an entry read at
the generation that is still current is what the database would answer now, and a node sees its
own writes at once, in every worker process, as the design requires of any cache of mutable data.

An entry is also used for at most :data:`MAX_AGE` seconds, the stated staleness bound for the one
case the generation cannot see: a process killed between its commit and storing the new value.
Where there is no generation (PostgreSQL, where other nodes write without telling this one)
nothing is kept and every call reads.

The number of entries is bounded by configuration (``OPENKMS_READ_CACHE``), not by the number of
keys; the oldest entry goes first. Entries are replaced whole, never changed, so threads need no
lock: at worst two of them read the same row at once.
"""

from __future__ import annotations

import contextlib
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any, TypeVar

from openkms.store.generation import WriteGeneration

T = TypeVar("T")
MAX_AGE = 1.0


def _found(value: object) -> bool:
    return value is not None


class ReadCache:
    def __init__(
        self,
        generation: WriteGeneration | None,
        size: int,
        *,
        max_age: float = MAX_AGE,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._generation = generation if size > 0 else None
        self._size = size
        self._max_age = max_age
        self._clock = clock
        # key -> (value, generation it was read at, clock time it stops being used). Ordered:
        # taking the oldest out of a plain dict (next(iter(d))) scans the slots of every entry
        # deleted before it, ~5 µs per miss at 10,000 entries; popitem here is O(1).
        self._entries: OrderedDict[Hashable, tuple[Any, int, float]] = OrderedDict()

    def get(
        self, key: Hashable, read: Callable[[], T], keep: Callable[[T], bool] = _found
    ) -> T:
        """What ``read()`` returns now, from the cache when nothing was written since.

        ``read`` must return the same thing for the same ``key`` whenever the database is the
        same. Only values ``keep`` accepts are kept: by default not None, so lookups of names
        that do not exist (any caller can make up millions) never push real entries out.
        """
        generation = self._generation
        if generation is None:
            return read()
        # Taken before the read: a write that commits meanwhile leaves the entry stale under an
        # old generation, where it is never used.
        current = generation.current()
        now = self._clock()
        entry = self._entries.get(key)
        if entry is not None and entry[1] == current and entry[2] > now:
            return entry[0]  # type: ignore[no-any-return]
        value = read()
        if not keep(value):
            return value
        entries = self._entries
        if len(entries) >= self._size and key not in entries:
            # Another thread may have emptied it first; the bound then holds within a few.
            with contextlib.suppress(KeyError):
                entries.popitem(last=False)
        entries[key] = (value, current, now + self._max_age)
        return value

    def __len__(self) -> int:
        return len(self._entries)
