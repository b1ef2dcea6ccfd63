"""Shared fixtures. Integration tests get one real server per test session (per xdist worker)
and clients of both official SDKs pointed at it.

The shared servers run on SQLite unless ``OPENKMS_TEST_DATABASE=postgres`` (then each server
gets a fresh PostgreSQL database, dropped afterwards; ``make test-postgres``). ``backend_server``
runs a test on both backends in every run.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.support.clients import OldClient, RawSigner, tea_client
from tests.support.postgres import PostgresDatabase, backend
from tests.support.server import ServerProcess


@contextmanager
def _running(data_dir: Path, kind: str) -> Iterator[ServerProcess]:
    """A started server on ``kind``; on PostgreSQL over a database of its own, dropped after."""
    db = PostgresDatabase().create() if kind == "postgres" else None
    srv = ServerProcess(data_dir, database=db.url if db is not None else None)
    try:
        srv.start()
        yield srv
    finally:
        srv.stop()
        if db is not None:
            db.drop()


@pytest.fixture(scope="session")
def sqlite_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """A running openkms on the embedded default (SQLite), shared by the tests of one worker."""
    with _running(tmp_path_factory.mktemp("srv-sqlite") / "data", "sqlite") as srv:
        yield srv


@pytest.fixture(scope="session")
def postgres_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """A running openkms over a fresh PostgreSQL database, shared by the tests of one worker."""
    with _running(tmp_path_factory.mktemp("srv-pg") / "data", "postgres") as srv:
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
    with _running(tmp_path / "data", backend()) as srv:
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
