"""Shared fixtures. Integration tests get one real server per test session (per xdist worker)
and clients of both official SDKs pointed at it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.clients import OldClient, RawSigner, tea_client
from tests.support.server import ServerProcess


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """A running openkms on the embedded default, shared by the tests of one worker."""
    srv = ServerProcess(tmp_path_factory.mktemp("srv") / "data")
    srv.start()
    yield srv
    srv.stop()


@pytest.fixture
def fresh_server(tmp_path: Path) -> Iterator[ServerProcess]:
    """A server of the test's own, for tests that restart or kill it."""
    srv = ServerProcess(tmp_path / "data")
    srv.start()
    yield srv
    srv.stop()


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
