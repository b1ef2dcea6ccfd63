"""Deployments for service-level tests: held in memory (in-memory database, root key and nonces)
unless a test needs a data directory (``disk_world``: restarts, several processes, the write
generation that lets reads be kept)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.inprocess import World, open_memory_world, open_world


@pytest.fixture(scope="module")
def shared_world() -> Iterator[World]:
    """One in-memory deployment for a module's tests that do not move the clock."""
    world = open_memory_world()
    yield world
    world.close()


@pytest.fixture
def world() -> Iterator[World]:
    """An in-memory deployment of the test's own (its clock may be moved)."""
    w = open_memory_world()
    yield w
    w.close()


@pytest.fixture
def disk_world(tmp_path: Path) -> Iterator[World]:
    """A deployment on a data directory of the test's own."""
    w = open_world(tmp_path / "data")
    yield w
    w.close()
