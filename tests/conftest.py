"""Shared fixtures. Integration tests get one real server per test session (per xdist worker)
and clients of both official SDKs pointed at it; job and service tests get an in-process
deployment of their own.

The shared servers run on SQLite unless ``OPENKMS_TEST_DATABASE=postgres`` (then each server
gets a fresh PostgreSQL database, dropped afterwards; ``make test-postgres``). ``backend_server``
runs a test on both backends in every run.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.support.calls import SDK
from tests.support.clients import OldClient, RawSigner, tea_client
from tests.support.postgres import backend, running_server
from tests.support.server import ServerProcess

if TYPE_CHECKING:
    from tests.support.inprocess import World


@pytest.fixture(scope="session")
def sqlite_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """A running openkms on the embedded default (SQLite), shared by the tests of one worker."""
    with running_server(tmp_path_factory.mktemp("srv-sqlite") / "data", "sqlite") as srv:
        yield srv


@pytest.fixture(scope="session")
def postgres_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """A running openkms over a fresh PostgreSQL database, shared by the tests of one worker."""
    with running_server(tmp_path_factory.mktemp("srv-pg") / "data", "postgres") as srv:
        yield srv


@pytest.fixture(scope="session")
def server(request: pytest.FixtureRequest) -> ServerProcess:
    """The shared server on the suite's backend (OPENKMS_TEST_DATABASE, SQLite by default)."""
    return request.getfixturevalue(f"{backend()}_server")  # type: ignore[no-any-return]


@pytest.fixture(params=["sqlite", "postgres"])
def backend_server(request: pytest.FixtureRequest) -> ServerProcess:
    """The shared server of each backend in turn, for tests that must hold on both."""
    return request.getfixturevalue(f"{request.param}_server")  # type: ignore[no-any-return]


@pytest.fixture
def fresh_server(tmp_path: Path) -> Iterator[ServerProcess]:
    """A server of the test's own (on the suite's backend), for tests that restart or kill it."""
    with running_server(tmp_path / "data", backend()) as srv:
        yield srv


@pytest.fixture
def tea(server: ServerProcess):  # type: ignore[no-untyped-def]
    """Tea SDK, default V3 signing."""
    return tea_client(server.endpoint, "v3")


@pytest.fixture(params=["v3", "v2", "v4"])
def tea_any(request: pytest.FixtureRequest, server: ServerProcess):  # type: ignore[no-untyped-def]
    """Tea SDK in each of its signing modes."""
    return tea_client(server.endpoint, request.param)


@pytest.fixture
def old(server: ServerProcess) -> OldClient:
    """The old core SDK (V1 HMAC-SHA1)."""
    return OldClient(server.endpoint)


@pytest.fixture
def raw(server: ServerProcess) -> RawSigner:
    """Hand-signed requests for replay, clock and tamper tests."""
    return RawSigner(server.endpoint)


@pytest.fixture(params=["tea", "old"])
def sdk(request: pytest.FixtureRequest, server: ServerProcess) -> SDK:
    """Each official SDK in turn, called by Alibaba's parameter names (tests/support/calls.py)."""
    return SDK(request.param, server.endpoint)


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    """An in-process deployment of the test's own, on a FixedClock it may move."""
    from tests.support.inprocess import open_world  # imported here: only job and service tests need it

    w = open_world(tmp_path / "data")
    yield w
    w.close()
