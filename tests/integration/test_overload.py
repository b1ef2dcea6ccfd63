"""Overload: a burst beyond capacity is throttled with 429 Rejected.Throttling, memory stays
bounded by the in-flight limit, and the server recovers by itself."""

from __future__ import annotations

import threading
from pathlib import Path

from alibabacloud_kms20160120 import models as m
from alibabacloud_tea_openapi.exceptions import ThrottlingException

from tests.support.clients import RawSigner, tea_client
from tests.support.server import ServerProcess, running


def test_burst_is_throttled_and_server_recovers(tmp_path: Path) -> None:
    """With an in-flight limit of 2, a 40-request burst gets some 429s, never a 5xx, then recovers."""
    with running(ServerProcess(tmp_path / "data", env={"OPENKMS_MAX_INFLIGHT": "2"})) as srv:
        raw = RawSigner(srv.endpoint)
        statuses: list[int] = []
        codes: list[str] = []
        lock = threading.Lock()

        def hit() -> None:
            resp = raw.v1("CreateKey")
            with lock:
                statuses.append(resp.status)
                if resp.status == 429:
                    codes.append(resp.json()["Code"])
                    assert resp.headers.get("x-acs-retry-after") == "1"

        threads = [threading.Thread(target=hit) for _ in range(40)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert len(statuses) == 40
        assert set(statuses) <= {200, 429}
        assert 429 in statuses
        assert {"Rejected.Throttling"} == set(codes)
        assert raw.v1("ListKeys").status == 200


def test_sdks_see_throttling(tmp_path: Path) -> None:
    """A throttled answer is the Tea SDK's ThrottlingException and the old SDK's 429 Rejected.Throttling."""
    import pytest
    from aliyunsdkkms.request.v20160120.ListKeysRequest import ListKeysRequest

    from tests.support.clients import OldClient
    from tests.support.sdk_errors import old_error

    with running(ServerProcess(tmp_path / "data", env={"OPENKMS_MAX_INFLIGHT": "0"})) as srv:
        with pytest.raises(ThrottlingException):
            tea_client(srv.endpoint).list_keys(m.ListKeysRequest())
        assert old_error(OldClient(srv.endpoint), ListKeysRequest()) == ("Rejected.Throttling", 429)
