"""Every per-process cache counts its hits and misses (the /metrics hit ratio)."""

from __future__ import annotations

from pathlib import Path

from openkms.service.caches import Expiring, Lru, ReadCache
from openkms.store.generation import WriteGeneration


def test_lru_counts_hits_and_misses() -> None:
    lru: Lru[str, int] = Lru(2)
    assert lru.get("a") is None
    lru.put("a", 1)
    assert lru.get("a") == 1 and lru.get("a") == 1
    assert (lru.hits, lru.misses) == (2, 1)


def test_expiring_counts_a_stale_entry_as_a_miss() -> None:
    now = [0.0]
    cache: Expiring[str, int] = Expiring(10, 1.0, clock=lambda: now[0])
    assert cache.get("a", lambda: 1) == 1  # miss, kept
    assert cache.get("a", lambda: 2) == 1  # hit
    now[0] = 5.0
    assert cache.get("a", lambda: 3) == 3  # stale: a miss
    assert (cache.hits, cache.misses) == (1, 2)


def test_read_cache_counts_hits_misses_and_reads_after_a_write(tmp_path: Path) -> None:
    generation = WriteGeneration(tmp_path / "generation")
    reads = ReadCache(generation, 10)
    assert reads.get("k", lambda: "v1") == "v1"
    assert reads.get("k", lambda: "v2") == "v1"
    generation.advance()
    assert reads.get("k", lambda: "v3") == "v3"  # a write since: read again
    assert (reads.hits, reads.misses) == (1, 2)
    off = ReadCache(None, 10)  # nothing kept: every lookup a miss
    off.get("k", lambda: "v")
    assert (off.hits, off.misses) == (0, 1)
