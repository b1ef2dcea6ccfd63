"""Every per-process cache of the services: what it holds, its bound, when an entry goes stale,
and what empties it. One :class:`Caches` per process, built with the services and handed to
those that use it.

- ``reads``: hot reads of mutable rows (a key by id, whose row names its owner; an alias's
  target and GetSecretValue's snapshot by account and name; the key of a version). Bound:
  ``read_cache`` entries (``OPENKMS_READ_CACHE``). Stale when the write generation moves (the
  node writes anything; on PostgreSQL also when another node's write is heard, store/listen.py)
  or after ``read_max_age`` seconds (``OPENKMS_READ_MAX_AGE``), which bounds what the generation
  cannot see.
- ``material``: unwrapped key-version material. Bound: ``material_cache`` versions
  (``OPENKMS_MATERIAL_CACHE``). Never stale for KMS material (a version's material never
  changes); imported material is used only at the key revision it was read at.
- ``parsed_keys``: asymmetric private and public key objects by version. Bound:
  ``parsed_key_cache`` entries (``OPENKMS_PARSED_KEY_CACHE``). Never stale (immutable).
- ``credentials``: an AccessKeyId's secret, status and owner. Bound: ``credential_cache`` entries
  (``OPENKMS_CREDENTIAL_CACHE``); each used for ``credential_seconds`` seconds
  (``OPENKMS_CREDENTIAL_SECONDS``), the bound within which disabling or deleting a pair takes
  effect on every node.
- ``sessions``: the claims of SecurityTokens that opened, by the token's text. Bound:
  ``credential_cache`` entries. Never stale: a token's claims never change (its expiry and
  AccessKeyId are checked on every use, service/sts.py).

Every commit that changes kept rows moves the write generation (store/generation.py), whoever
makes it (a ``write()`` block or a single-statement write on the Database), and on PostgreSQL
so does every such commit of another node, heard through LISTEN/NOTIFY: that is the one
invalidation of ``reads``, and it reaches every worker process of the node at once. Nothing
else is invalidated by hand but the version entries of a destroyed key or of deleted imported
material (:meth:`Caches.forget_version`), which keeps secret material out of memory sooner than
the bound would.

Each cache counts its lookups, ``hits`` and ``misses`` (the ``/metrics`` hit ratio): plain
integer additions with no lock of their own, so two threads counting at once may lose one count,
which a ratio does not notice.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from openkms.config import Settings
from openkms.store.generation import WriteGeneration

if TYPE_CHECKING:
    from openkms.domain.sts import Claims

__all__ = ["CacheBounds", "Caches", "Expiring", "Lru", "ReadCache"]

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")
T = TypeVar("T")


@dataclass(frozen=True)
class CacheBounds:
    """The size (entries) and age (seconds) bounds of every cache; 0 entries turns one off."""

    read_cache: int = 10_000
    read_max_age: float = 1.0
    material_cache: int = 100_000
    parsed_key_cache: int = 10_000
    credential_cache: int = 10_000
    credential_seconds: float = 1.0

    @classmethod
    def of(cls, settings: Settings) -> CacheBounds:
        return cls(
            read_cache=settings.read_cache,
            read_max_age=settings.read_max_age,
            material_cache=settings.material_cache,
            parsed_key_cache=settings.parsed_key_cache,
            credential_cache=settings.credential_cache,
            credential_seconds=settings.credential_seconds,
        )


class Lru(Generic[K, V]):
    """At most ``size`` entries, the least recently used out first; safe across threads."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._entries: OrderedDict[K, V] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get(self, key: K) -> V | None:
        with self._lock:
            found = self._entries.get(key)
            if found is not None:
                self._entries.move_to_end(key)
                self.hits += 1
            else:
                self.misses += 1
            return found

    def put(self, key: K, value: V) -> None:
        if self._size <= 0:
            return
        with self._lock:
            self._entries[key] = value
            self._entries.move_to_end(key)
            while len(self._entries) > self._size:
                self._entries.popitem(last=False)

    def pop(self, key: K) -> None:
        with self._lock:
            self._entries.pop(key, None)

    def clear(self) -> None:
        with self._lock:
            self._entries = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)


class Expiring(Generic[K, V]):
    """Entries used for at most ``seconds`` after they were stored; at most ``size`` of them
    (oldest out first)."""

    def __init__(self, size: int, seconds: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._lru: Lru[K, tuple[float, V]] = Lru(size)
        self._seconds = seconds
        self._clock = clock
        self.hits = 0
        self.misses = 0

    def get(self, key: K, load: Callable[[], V], keep: Callable[[V], bool] = lambda v: v is not None) -> V:
        """What ``load()`` returns, from the cache while younger than the bound. Only values
        ``keep`` accepts are kept: by default not None, so made-up keys push nothing out."""
        now = self._clock()
        hit = self._lru.get(key)
        if hit is not None and now - hit[0] < self._seconds:
            self.hits += 1
            return hit[1]
        self.misses += 1
        value = load()
        if keep(value):
            self._lru.put(key, (now, value))
        return value

    def clear(self) -> None:
        self._lru.clear()

    def __len__(self) -> int:
        return len(self._lru)


def _found(value: object) -> bool:
    return value is not None


class ReadCache:
    """Reads of mutable rows, kept while the node has written nothing, for at most ``max_age``.

    An entry carries the write generation seen *before* its read: a write that commits meanwhile
    leaves it under an old generation, where it is never used. ``max_age`` bounds what the
    generation cannot see (a process killed between its commit and moving the generation,
    another node's write not heard). Without a generation (an in-memory database, a PostgreSQL
    one opened without a data directory) nothing is kept. Entries are replaced whole, never
    changed, so threads need no lock: at worst two of them read the same row at once.
    """

    def __init__(
        self,
        generation: WriteGeneration | None,
        size: int,
        *,
        max_age: float = CacheBounds.read_max_age,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._generation = generation if size > 0 else None
        self._size = size
        self._max_age = max_age
        self._clock = clock
        # key -> (value, generation it was read at, clock time it stops being used); ordered so
        # that taking the oldest out is O(1).
        self._entries: OrderedDict[Hashable, tuple[Any, int, float]] = OrderedDict()
        self.hits = 0
        self.misses = 0

    def get(self, key: Hashable, read: Callable[[], T], keep: Callable[[T], bool] = _found) -> T:
        """What ``read()`` returns now, from the cache when nothing was written since.

        ``read`` must return the same thing for the same ``key`` whenever the database is the
        same. Only values ``keep`` accepts are kept: by default not None, so lookups of names
        that do not exist (any caller can make up millions) never push real entries out.
        """
        generation = self._generation
        if generation is None:
            self.misses += 1
            return read()
        current = generation.current()
        now = self._clock()
        entry = self._entries.get(key)
        if entry is not None and entry[1] == current and entry[2] > now:
            self.hits += 1
            return entry[0]  # type: ignore[no-any-return]
        self.misses += 1
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


class Caches:
    """The caches of one process (see the module docstring for each one's rule)."""

    def __init__(
        self,
        generation: WriteGeneration | None,
        bounds: CacheBounds,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.bounds = bounds
        self.reads = ReadCache(generation, bounds.read_cache, max_age=bounds.read_max_age, clock=clock)
        # version id -> (material, key revision it was read at; None: valid at any revision)
        self.material: Lru[str, tuple[bytes, int | None]] = Lru(bounds.material_cache)
        # (kind, version id) -> parsed key object
        self.parsed_keys: Lru[tuple[str, str], Any] = Lru(bounds.parsed_key_cache)
        # AccessKeyId -> its secret, status and owner (a service.access_keys.Credential, typed
        # loosely: access_keys uses these caches, not the other way round), or None for an id
        # that does not exist
        self.credentials: Expiring[str, Any] = Expiring(
            bounds.credential_cache, bounds.credential_seconds, clock
        )
        # SecurityToken -> its claims (an opened token: one AES-GCM open saved per request)
        self.sessions: Lru[str, Claims] = Lru(bounds.credential_cache)

    def drop_secrets(self) -> None:
        """Drop everything unwrapped (material, parsed private keys, AccessKey secrets, opened
        tokens): what sealing the node (service/seal.py) must take out of memory."""
        self.material.clear()
        self.parsed_keys.clear()
        self.credentials.clear()
        self.sessions.clear()

    def forget_version(self, version_id: str) -> None:
        """Drop what is kept of a version whose material was deleted or whose key was destroyed."""
        self.material.pop(version_id)
        for kind in ("private", "public"):
            self.parsed_keys.pop((kind, version_id))
