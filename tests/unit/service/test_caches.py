"""The per-process caches (service/caches.py): ReadCache is kept while the write generation
stands still, for at most its age bound; the others by size, least recently used out first."""

from __future__ import annotations

from pathlib import Path

import pytest

from openkms.service.caches import CacheBounds, Caches, Expiring, Lru, ReadCache
from openkms.store.generation import WriteGeneration

MAX_AGE = CacheBounds.read_max_age


class Reads:
    """A stand-in for the database: counts reads, answers from a dict."""

    def __init__(self) -> None:
        self.rows: dict[str, str | None] = {"a": "A", "b": "B"}
        self.count = 0

    def of(self, key: str):  # type: ignore[no-untyped-def]
        def read() -> str | None:
            self.count += 1
            return self.rows.get(key)

        return read


@pytest.fixture
def gen(tmp_path: Path) -> WriteGeneration:
    return WriteGeneration(tmp_path / "generation")


def test_kept_until_the_generation_changes(gen: WriteGeneration) -> None:
    db, cache = Reads(), ReadCache(gen, 10)
    assert [cache.get("a", db.of("a")) for _ in range(3)] == ["A"] * 3
    assert db.count == 1
    db.rows["a"] = "A2"
    gen.advance()  # what every committed write does
    assert cache.get("a", db.of("a")) == "A2"
    assert db.count == 2


def test_a_change_seen_by_another_mapping(gen: WriteGeneration, tmp_path: Path) -> None:
    """The writer is another process: it maps the file on its own."""
    db, cache = Reads(), ReadCache(gen, 10)
    cache.get("a", db.of("a"))
    db.rows["a"] = "A2"
    WriteGeneration(tmp_path / "generation").advance()
    assert cache.get("a", db.of("a")) == "A2"


def test_an_entry_lives_at_most_max_age(gen: WriteGeneration) -> None:
    """The bound for a write whose process died before it changed the generation."""
    now = [1000.0]
    db, cache = Reads(), ReadCache(gen, 10, clock=lambda: now[0])
    cache.get("a", db.of("a"))
    db.rows["a"] = "A2"  # committed, generation never changed
    now[0] += MAX_AGE * 0.9
    assert cache.get("a", db.of("a")) == "A"
    now[0] += MAX_AGE * 0.2
    assert cache.get("a", db.of("a")) == "A2"


def test_a_read_racing_a_write_is_not_kept_past_it(gen: WriteGeneration) -> None:
    """The generation is taken before the read: a write committed during the read leaves the
    entry under the old generation, so the next call reads again."""
    db, cache = Reads(), ReadCache(gen, 10)

    def read_then_write() -> str | None:
        value = db.of("a")()
        db.rows["a"] = "A2"
        gen.advance()
        return value

    assert cache.get("a", read_then_write) == "A"
    assert cache.get("a", db.of("a")) == "A2"


def test_not_found_is_not_kept(gen: WriteGeneration) -> None:
    db, cache = Reads(), ReadCache(gen, 10)
    for _ in range(3):
        assert cache.get("missing", db.of("missing")) is None
    assert db.count == 3 and len(cache) == 0
    assert cache.get("x", lambda: (False, None), keep=lambda found: found[0]) == (False, None)
    assert len(cache) == 0


def test_bounded_by_size_oldest_out(gen: WriteGeneration) -> None:
    db, cache = Reads(), ReadCache(gen, 3)
    db.rows.update({k: k.upper() for k in "cdef"})
    for key in "abcdef":
        cache.get(key, db.of(key))
    assert len(cache) == 3
    count = db.count
    assert [cache.get(k, db.of(k)) for k in "def"] == ["D", "E", "F"]
    assert db.count == count  # the newest three were kept
    cache.get("a", db.of("a"))
    assert db.count == count + 1


def test_nothing_kept_without_a_generation_or_with_size_zero(gen: WriteGeneration) -> None:
    for cache in (ReadCache(None, 10), ReadCache(gen, 0)):
        db = Reads()
        for _ in range(3):
            assert cache.get("a", db.of("a")) == "A"
        assert db.count == 3 and len(cache) == 0


def test_lru_keeps_the_most_recently_used_within_its_bound() -> None:
    """Lru holds at most its size; a read refreshes an entry; size 0 keeps nothing."""
    lru: Lru[str, int] = Lru(2)
    lru.put("a", 1)
    lru.put("b", 2)
    assert lru.get("a") == 1  # "b" is now the least recently used
    lru.put("c", 3)
    assert (lru.get("a"), lru.get("b"), lru.get("c"), len(lru)) == (1, None, 3, 2)
    off: Lru[str, int] = Lru(0)
    off.put("a", 1)
    assert (off.get("a"), len(off)) == (None, 0)


def test_expiring_entries_are_used_only_within_their_age() -> None:
    """Expiring answers from the cache until ``seconds`` have passed, then loads again; values
    the keep rule refuses (None: an id that does not exist) are never stored."""
    now = [100.0]
    loads: list[str] = []
    cache: Expiring[str, str | None] = Expiring(10, 0.5, clock=lambda: now[0])

    def load(value: str | None) -> str | None:
        loads.append(str(value))
        return value

    assert cache.get("ak", lambda: load("secret")) == "secret"
    now[0] += 0.4
    assert cache.get("ak", lambda: load("changed")) == "secret"
    now[0] += 0.2
    assert cache.get("ak", lambda: load("changed")) == "changed"
    assert cache.get("nobody", lambda: load(None)) is None
    assert cache.get("nobody", lambda: load(None)) is None
    assert loads == ["secret", "changed", "None", "None"]


def test_caches_take_their_bounds_and_forget_a_version_everywhere(tmp_path: Path) -> None:
    """Caches builds each cache with its configured bound; forget_version drops a version's
    material and both of its parsed keys."""
    caches = Caches(WriteGeneration(tmp_path / "g"), CacheBounds(material_cache=1, parsed_key_cache=5))
    caches.material.put("v1", (b"k" * 32, None))
    caches.material.put("v2", (b"j" * 32, None))
    assert (caches.material.get("v1"), len(caches.material)) == (None, 1)
    caches.parsed_keys.put(("private", "v2"), object())
    caches.parsed_keys.put(("public", "v2"), object())
    caches.parsed_keys.put(("public", "v3"), object())
    caches.forget_version("v2")
    assert (caches.material.get("v2"), len(caches.parsed_keys)) == (None, 1)
