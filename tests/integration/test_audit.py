"""The audit trail end to end: calls through both official SDKs leave their events (a RAM
user's too, with its name); `openkms audit verify`, `export`, `tail`, `hash` and `prune` over the
deployment they ran on; tampering makes `verify` exit 2 naming the event."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from tests.support.calls import SDK, ApiError
from tests.support.server import CLI, ServerProcess


def _cli(srv: ServerProcess, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CLI, "audit", *args, *srv.store_args],
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )


def _ram_user(srv: ServerProcess, name: str) -> tuple[str, str]:
    """A RAM user allowed everything on KMS, and its AccessKey pair."""

    def ram(*args: str) -> str:
        done = subprocess.run(
            [*CLI, "ram", *args, *srv.store_args], capture_output=True, text=True, timeout=60
        )
        assert done.returncode == 0, done.stderr
        return done.stdout

    ram("user", "create", name)
    ram("policy", "attach", "AliyunKMSFullAccess", "--type", "System", "--user", name)
    out = ram("access-key", "create", "--user", name).split()
    return out[out.index("AccessKeyId:") + 1], out[out.index("AccessKeySecret:") + 1]


def _events(srv: ServerProcess) -> list[dict[str, Any]]:
    return [json.loads(e) for (e,) in srv.query("SELECT event FROM audit_events ORDER BY at")]


@pytest.fixture(scope="module")
def made(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    """A node that took calls through both SDKs, then stopped: (server, key id, request ids)."""
    srv = ServerProcess(tmp_path_factory.mktemp("audit") / "data")
    srv.start()
    request_ids: dict[str, str] = {}
    try:
        for name in ("tea", "old"):
            sdk = SDK(name, srv.endpoint)
            key_id = sdk.call("CreateKey")["KeyMetadata"]["KeyId"]
            enc = sdk.call(
                "Encrypt", KeyId=key_id, Plaintext="canary-7d1e", EncryptionContext={"tenant": "acme"}
            )
            request_ids[f"{name} Encrypt"] = enc["RequestId"]
            with pytest.raises(ApiError) as denied:
                sdk.call("DescribeKey", KeyId="alias/none-such")
            request_ids[f"{name} refused"] = denied.value.code
        ak, secret = _ram_user(srv, "alice")
        request_ids["alice"] = SDK("tea", srv.endpoint, ak, secret).call("ListKeys")["RequestId"]
    finally:
        srv.stop()
    return srv, key_id, request_ids


@pytest.fixture
def audited(made: Any, tmp_path: Path) -> tuple[ServerProcess, str, dict[str, str]]:
    """A copy of ``made``'s stopped node of the test's own (the tests tamper and prune)."""
    srv, key_id, request_ids = made
    shutil.copytree(srv.data_dir, tmp_path / "data")
    return ServerProcess(tmp_path / "data"), key_id, request_ids


def test_sdk_calls_leave_their_events_and_verify_says_intact(audited: Any) -> None:
    srv, _, ids = audited
    events = _events(srv)
    by_id = {e.get("requestId"): e for e in events}
    for name in ("tea", "old"):
        event = by_id[ids[f"{name} Encrypt"]]
        assert event["eventName"] == "Encrypt" and event["userIdentity"]["type"] == "root-account"
        assert event["requestParameters"]["Plaintext"]["omitted"] is True
    refused = [e for e in events if e["eventName"] == "DescribeKey"]
    assert [e["errorCode"] for e in refused] == [ids["tea refused"], ids["old refused"]]
    assert "canary-7d1e" not in json.dumps(events) and "acme" not in json.dumps(events)
    alice = by_id[ids["alice"]]["userIdentity"]
    assert (alice["type"], alice["userName"], alice["accountId"]) == (
        "ram-user",
        "alice",
        by_id[ids["tea Encrypt"]]["userIdentity"]["accountId"],
    )
    done = _cli(srv, "verify")
    assert done.returncode == 0, done.stderr
    assert "intact" in done.stdout


def test_export_filters_by_key_and_time_and_hash_finds_a_hidden_value(audited: Any) -> None:
    srv, key_id, _ = audited
    done = _cli(srv, "export", "--key", key_id)
    lines = [json.loads(line) for line in done.stdout.splitlines()]
    # ListKeys names every key it listed.
    assert [x["event"]["eventName"] for x in lines] == ["CreateKey", "Encrypt", "ListKeys"]
    assert all({"chain", "seq", "mac"} <= set(x) for x in lines)
    assert _cli(srv, "export", "--until", "2000-01-01").stdout == ""
    [hashed] = _cli(srv, "hash", "acme").stdout.split()
    assert lines[1]["event"]["requestParameters"]["EncryptionContext"] == {"tenant": hashed}
    tail = _cli(srv, "tail", "-n", "2").stdout.splitlines()
    assert len(tail) == 2 and json.loads(tail[-1])["event"]["eventName"] == "ListKeys"


def test_verify_exits_2_naming_a_tampered_event(audited: Any) -> None:
    srv, _, _ = audited
    import sqlite3

    with sqlite3.connect(srv.data_dir / "openkms.db") as db:
        db.execute(
            "UPDATE audit_events SET event = replace(event, '\"Encrypt\"', '\"Decrypt\"') WHERE seq = 3"
        )
    done = _cli(srv, "verify")
    assert done.returncode == 2
    assert "seq 3: modified, or out of order" in done.stdout


def test_prune_archives_first_and_the_rest_still_verifies(audited: Any, tmp_path: Path) -> None:
    srv, _, _ = audited
    before = len(_events(srv))
    archive = tmp_path / "archive.jsonl"
    done = _cli(srv, "prune", "--before", str(time.time() + 1), "--archive", str(archive))
    assert done.returncode == 0, done.stderr
    archived = archive.read_text().splitlines()
    assert len(archived) == before and len(_events(srv)) == 0
    assert (archive.stat().st_mode & 0o777) == 0o600
    assert _cli(srv, "verify").returncode == 0
    # Pruning is never silent: the archive must be a new file.
    again = _cli(srv, "prune", "--before", str(time.time() + 1), "--archive", str(archive))
    assert again.returncode != 0
