"""In-process deployments for service-level tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.inprocess import World, open_world


@pytest.fixture(scope="module")
def shared_world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    """One deployment for a module's tests that do not move the clock."""
    world = open_world(tmp_path_factory.mktemp("world") / "data")
    yield world
    world.close()


@pytest.fixture
def world(tmp_path) -> Iterator[World]:  # type: ignore[no-untyped-def]
    """A deployment of the test's own (its clock may be moved)."""
    w = open_world(tmp_path / "data")
    yield w
    w.close()
