"""What `openkms serve`, `init` and `db upgrade` write is JSON lines and nothing else: openkms's,
uvicorn's and Alembic's lines alike, at the level set; a refused signature names the AccessKeyId
it claimed; no secret or plaintext appears."""

from __future__ import annotations

import base64
import json
import os
import re
import subprocess
from pathlib import Path
from typing import Any

from tests.support.clients import RawSigner
from tests.support.failing_server import FAILING_ACTION
from tests.support.server import ACCESS_KEY_ID, ACCESS_KEY_SECRET, CLI, ServerProcess, running

TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")
LEVELS = {"debug", "info", "warning", "error", "critical"}
PLAINTEXT = "canary-plaintext-7f3a9c"
SECRET_DATA = "canary-secret-value-51be0d"


def _events(text: str) -> list[dict[str, Any]]:
    """Every line of ``text`` as a log event; fails on any line that is not one."""
    events = []
    for line in text.splitlines():
        event = json.loads(line)  # a plain-text line fails here
        assert isinstance(event, dict), line
        assert TIME.fullmatch(event["time"]), line
        assert event["level"] in LEVELS, line
        assert isinstance(event["logger"], str) and event["logger"], line
        assert isinstance(event["message"], str), line
        assert isinstance(event["pid"], int), line
        events.append(event)
    return events


def _requests(events: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {e["request_id"]: e for e in events if e["logger"] == "openkms.request"}


def test_every_line_of_serve_is_json(tmp_path: Path) -> None:
    """Start, requests (success, client errors, refused signatures, an internal failure) and
    shutdown: each line parses, with the fields; the request lines keep theirs."""
    srv = ServerProcess(tmp_path / "data", module="tests.support.failing_server")
    with running(srv):
        raw = RawSigner(srv.endpoint)
        ok = raw.v1("ListKeys")
        missing = raw.v1("DescribeKey", {"KeyId": "missing"})
        bad_signature = RawSigner(srv.endpoint, secret="not-the-secret").v1("ListKeys")
        unknown = RawSigner(srv.endpoint, ak="LTAIclaimedButUnknown", secret="x").v3("ListKeys")
        stale = raw.v3("ListKeys", offset=-3600)
        failed = raw.v1(FAILING_ACTION)
        key_id = raw.v1("CreateKey").json()["KeyMetadata"]["KeyId"]
        plaintext = base64.b64encode(PLAINTEXT.encode()).decode()
        assert raw.v1("Encrypt", {"KeyId": key_id, "Plaintext": plaintext}).status == 200
        created = raw.v1("CreateSecret", {"SecretName": "s1", "SecretData": SECRET_DATA, "VersionId": "v1",
                                          "EncryptionKeyId": key_id})  # fmt: skip
        assert created.status == 200, created.json()
    text = srv.log_path.read_text()
    events = _events(text)

    started = [e for e in events if "serving on" in e["message"]]
    assert len(started) == 1 and started[0]["url"] == f"http://127.0.0.1:{srv.port}"
    lines = _requests(events)
    assert len({e["pid"] for e in events}) == 1  # one process: the same pid on every line
    assert not [e for e in events if e["logger"].startswith(("uvicorn", "alembic"))]  # info: quiet

    def line(answer: Any) -> dict[str, Any]:
        found = lines[answer.json()["RequestId"]]
        assert list(found)[:6] == ["time", "level", "logger", "message", "request_id", "pid"]
        assert isinstance(found["latency_ms"], float) and found["level"] == "info"
        return found

    assert {k: line(ok)[k] for k in ("action", "access_key_id", "status", "code")} == {
        "action": "ListKeys", "access_key_id": ACCESS_KEY_ID, "status": 200, "code": "-"
    }  # fmt: skip
    assert (line(missing)["status"], line(missing)["code"]) == (404, "Forbidden.KeyNotFound")
    # Refused at the signature check: the AccessKeyId as the request sent it.
    assert (line(bad_signature)["code"], line(bad_signature)["access_key_id"]) == (
        "SignatureDoesNotMatch",
        ACCESS_KEY_ID,
    )
    assert (line(unknown)["code"], line(unknown)["access_key_id"]) == (
        "InvalidAccessKeyId.NotFound",
        "LTAIclaimedButUnknown",
    )
    assert (line(stale)["code"], line(stale)["access_key_id"]) == ("InvalidTimeStamp.Expired", ACCESS_KEY_ID)
    # The internal failure: its request line, and an error line with the traceback as a field.
    failed_id = failed.json()["RequestId"]
    assert (failed.status, line(failed)["code"]) == (500, "InternalFailure")
    errors = [e for e in events if e["logger"] == "openkms.error" and e.get("request_id") == failed_id]
    assert len(errors) == 1 and errors[0]["level"] == "error"
    assert "RuntimeError: the renderer broke on purpose" in errors[0]["exc_info"]
    assert errors[0]["exc_info"].startswith("Traceback")

    for canary in (ACCESS_KEY_SECRET, PLAINTEXT, plaintext, SECRET_DATA):
        assert canary not in text


def test_worker_processes_and_libraries_log_the_same_format(tmp_path: Path) -> None:
    """`serve --workers 2` at log_level debug: the parent's and each worker's lines, uvicorn's
    and Alembic's among them, are all JSON lines."""
    srv = ServerProcess(tmp_path / "data", extra_args=["--workers", "2", "--log-level", "debug"])
    with running(srv):
        for _ in range(4):
            assert RawSigner(srv.endpoint).v1("ListKeys").status == 200
    events = _events(srv.log_path.read_text())
    loggers = {e["logger"] for e in events}
    assert {"openkms", "openkms.request", "uvicorn.error", "alembic.runtime.migration"} <= loggers
    uvicorn_pids = {e["pid"] for e in events if e["logger"] == "uvicorn.error"}
    assert len(uvicorn_pids) == 3  # the supervising process and two workers
    # uvicorn's INFO lines: below debug they are left out (the first test has none).
    assert any(e["logger"] == "uvicorn.error" and e["level"] == "info" for e in events)
    assert ACCESS_KEY_SECRET not in srv.log_path.read_text()


def test_the_level_filters_serve_lines(tmp_path: Path) -> None:
    """At log_level warning the request lines (info) are left out; an internal failure's error
    line is still there."""
    srv = ServerProcess(
        tmp_path / "data", module="tests.support.failing_server", env={"OPENKMS_LOG_LEVEL": "warning"}
    )
    with running(srv):
        raw = RawSigner(srv.endpoint)
        assert raw.v1("ListKeys").status == 200
        failed = raw.v1(FAILING_ACTION).json()["RequestId"]
    events = _events(srv.log_path.read_text())
    assert [(e["logger"], e["level"], e.get("request_id")) for e in events] == [
        ("openkms.error", "error", failed)
    ]


def test_serve_refuses_an_unknown_level(tmp_path: Path) -> None:
    done = subprocess.run(
        [*CLI, "serve", "--data-dir", str(tmp_path / "data"), "--log-level", "verbose"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 2
    assert "log_level must be one of debug, info, warning, error" in done.stderr


def test_init_and_db_upgrade_log_json_lines(tmp_path: Path) -> None:
    """`init` and `db upgrade` at debug: Alembic's lines on stderr are JSON, every one; at the
    default level they print their results on stdout and log nothing."""
    env = {
        **os.environ,
        "OPENKMS_ROOT_ACCESS_KEY_ID": ACCESS_KEY_ID,
        "OPENKMS_ROOT_ACCESS_KEY_SECRET": ACCESS_KEY_SECRET,
    }
    store = ["--data-dir", str(tmp_path / "data")]
    init = subprocess.run([*CLI, "init", *store, "--log-level", "debug"], env=env, capture_output=True, text=True,
                          timeout=60, check=True)  # fmt: skip
    events = _events(init.stderr)
    migrations = [e for e in events if e["logger"] == "alembic.runtime.migration"]
    assert any(e["message"].startswith("Running upgrade") for e in migrations)
    assert ACCESS_KEY_SECRET not in init.stderr
    upgrade = subprocess.run([*CLI, "db", "upgrade", *store], env={**env, "OPENKMS_LOG_LEVEL": "debug"},
                             capture_output=True, text=True, timeout=60, check=True)  # fmt: skip
    assert any(e["logger"].startswith("alembic") for e in _events(upgrade.stderr))
    quiet = subprocess.run([*CLI, "db", "upgrade", *store], env=env, capture_output=True, text=True, timeout=60,
                           check=True)  # fmt: skip
    assert quiet.stderr == ""
    assert quiet.stdout == "openkms: database schema is current\n"


def test_kill_9_right_after_answers_loses_no_line(tmp_path: Path) -> None:
    """Every answered request's line is on stderr even when the server is killed outright the
    moment the last answer arrives."""
    srv = ServerProcess(tmp_path / "data")
    srv.start()
    try:
        raw = RawSigner(srv.endpoint)
        answered = [raw.v1("ListKeys").json()["RequestId"] for _ in range(30)]
    finally:
        srv.kill9()
    assert set(answered) <= set(_requests(_events(srv.log_path.read_text())))
