"""The audit hop (service/audit.py) through the ASGI app: one event per call of every action of
every product, with who called, what, on which resources and how it ended; secrets never in it;
and `verify` catches every way of tampering with the stored chain."""

from __future__ import annotations

import asyncio
import base64
import json
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from openkms.api import REGISTRY
from openkms.config import Settings
from openkms.server import KMSApp
from openkms.service.audit import value_hashes, verify
from openkms.service.deployment import init_deployment
from openkms.store import audit as repo
from tests.support.clients import RawSigner

AK = "LTAI5tAuditAccessKey00001"
SECRET = "AuditAccessKeySecret0123456789AB"


@pytest.fixture
def app(tmp_path: Path) -> Iterator[KMSApp]:
    settings = Settings(data_dir=tmp_path / "data", audit_file=tmp_path / "audit.jsonl")
    dep, _ = init_deployment(settings, root_access_key=(AK, SECRET))
    kms = KMSApp(dep, run_jobs=False)
    yield kms
    kms.pool.shutdown()
    kms.services.audit.close()
    dep.close()


def call(
    app: KMSApp, action: str, params: dict[str, str] | None = None, version: str = "2016-01-20", **kw: Any
) -> tuple[int, dict[str, Any]]:
    query = RawSigner("kms.test", kw.pop("ak", AK), kw.pop("secret", SECRET)).v1_query(
        action, params or {}, version=version
    )
    scope = {
        "type": "http",
        "method": "POST",
        "path": "/",
        "query_string": query.encode(),
        "headers": [(b"host", b"kms.test"), (b"user-agent", b"audit-test/1.0")],
        "client": ("192.0.2.7", 5000),
    }
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    asyncio.run(app(scope, receive, send))
    return sent[0]["status"], json.loads(sent[1]["body"])


def stored(app: KMSApp) -> list[dict[str, Any]]:
    db = app.dep.db
    return [json.loads(r.event) for c in repo.chains(db) for r in repo.events(db, c.chain)]


def by_request(app: KMSApp) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for event in stored(app):
        out.setdefault(event.get("requestId", ""), []).append(event)
    return out


def test_every_action_of_every_product_gets_exactly_one_event(app: KMSApp) -> None:
    answers = {}
    for (version, action), spec in sorted(REGISTRY.items()):
        status, body = call(app, action, version=version)
        answers[body["RequestId"]] = (action, spec.service, status, body.get("Code", ""))
    events = by_request(app)
    for request_id, (action, service, status, code) in answers.items():
        [event] = events[request_id]
        assert event["eventName"] == action
        assert event["serviceName"] == {"kms": "Kms", "ram": "Ram", "sts": "Sts"}[service]
        assert event["errorCode"] == code, (action, status)
        who = event["userIdentity"]
        assert (who["type"], who["accessKeyId"]) == ("root-account", AK)
        assert event["sourceIpAddress"] == "192.0.2.7"
        assert event["userAgent"] == "audit-test/1.0"
        assert event["eventSource"] == "kms.test"
    assert len(answers) == len(REGISTRY)


def test_a_crypto_call_names_its_key_and_version_and_hides_its_data(app: KMSApp) -> None:
    _, created = call(app, "CreateKey")
    key_id = created["KeyMetadata"]["KeyId"]
    plaintext = base64.b64encode(b"canary plaintext 1f2e3d").decode()
    _, enc = call(
        app, "Encrypt", {"KeyId": key_id, "Plaintext": plaintext, "EncryptionContext": '{"tenant":"acme"}'}
    )
    _, data_key = call(app, "GenerateDataKey", {"KeyId": key_id})
    [event] = by_request(app)[enc["RequestId"]]
    assert event["referencedResources"] == {
        "ACS::KMS::Key": [key_id],
        "ACS::KMS::KeyVersion": [enc["KeyVersionId"]],
    }
    assert event["requestParameters"]["Plaintext"] == {"omitted": True, "bytes": len(plaintext)}
    # An auditor holding the value finds it; the event alone does not reveal it.
    [hashed] = value_hashes(app.dep, "acme")
    assert event["requestParameters"]["EncryptionContext"] == {"tenant": hashed}
    assert event["eventRW"] == "Read" and event["errorCode"] == ""
    everything = json.dumps(stored(app)) + (app.dep.settings.audit_file or Path()).read_text()
    for secret in (plaintext, data_key["Plaintext"], enc["CiphertextBlob"], "acme", SECRET):
        assert secret not in everything


def test_a_call_refused_at_its_signature_records_the_access_key_it_claimed(app: KMSApp) -> None:
    status, body = call(app, "ListKeys", secret="not-the-secret-of-this-key")
    assert (status, body["Code"]) == (400, "SignatureDoesNotMatch")
    [event] = by_request(app)[body["RequestId"]]
    assert event["errorCode"] == body["Code"]
    assert event["userIdentity"]["type"] == "unknown"
    assert event["userIdentity"]["accessKeyId"] == AK


def test_the_file_sink_holds_the_same_chain(app: KMSApp) -> None:
    for _ in range(3):
        call(app, "ListKeys")
    lines = [json.loads(line) for line in (app.dep.settings.audit_file or Path()).read_text().splitlines()]
    db = app.dep.db
    rows = [(r.chain, r.seq, r.mac.hex()) for c in repo.chains(db) for r in repo.events(db, c.chain)]
    assert [(x["chain"], x["seq"], x["mac"]) for x in lines] == rows


# -- tampering --------------------------------------------------------------------------------


@pytest.fixture
def trail(app: KMSApp) -> KMSApp:
    """Seven events in one chain, closed (its final head recorded)."""
    for _ in range(6):
        assert call(app, "ListKeys")[0] == 200
    app.services.audit.close()
    assert verify(app.dep)[2] == []
    return app


def _sql(app: KMSApp, statement: str, **params: Any) -> None:
    with app.dep.db.write() as tx:
        tx._conn.execute(text(statement), params)


def _problems(app: KMSApp) -> list[str]:
    return [f.problem for f in verify(app.dep)[2]]


def test_verify_catches_a_modified_event(trail: KMSApp) -> None:
    _sql(trail, "UPDATE audit_events SET event = replace(event, 'ListKeys', 'ListAliases') WHERE seq = 3")
    assert _problems(trail) == ["modified, or out of order"]


def test_verify_catches_a_deleted_event(trail: KMSApp) -> None:
    _sql(trail, "DELETE FROM audit_events WHERE seq = 4")
    assert _problems(trail) == ["missing (the next event is seq 5)"]


def test_verify_catches_reordered_events(trail: KMSApp) -> None:
    _sql(trail, "UPDATE audit_events SET seq = -1 WHERE seq = 3")
    _sql(trail, "UPDATE audit_events SET seq = 3 WHERE seq = 4")
    _sql(trail, "UPDATE audit_events SET seq = 4 WHERE seq = -1")
    assert _problems(trail) == ["modified, or out of order"]


def test_a_running_chain_may_go_on_past_its_last_head_checkpoint(app: KMSApp) -> None:
    """The head is recorded at most once a second: events written since are not missing."""
    for _ in range(3):
        call(app, "ListKeys")
    [chain] = repo.chains(app.dep.db)
    events = list(repo.events(app.dep.db, chain.chain))
    assert chain.seq < len(events) and verify(app.dep)[2] == []


def test_verify_catches_a_truncated_tail_even_with_the_head_moved_back(trail: KMSApp) -> None:
    _sql(trail, "DELETE FROM audit_events WHERE seq > 5")
    [problem] = _problems(trail)
    assert problem.startswith("missing: the events end at seq 5")
    # Moving the head back to the last kept event needs the head's MAC key.
    _sql(
        trail,
        "UPDATE audit_chains SET seq = 5, mac = (SELECT mac FROM audit_events WHERE seq = 5)",
    )
    assert _problems(trail) == ["the chain's head was modified"]


def test_verify_catches_a_whole_chain_deleted(tmp_path: Path) -> None:
    """Each process's chain starts by naming the chains before it."""
    settings = Settings(data_dir=tmp_path / "data")
    dep, _ = init_deployment(settings, root_access_key=(AK, SECRET))
    first = KMSApp(dep, run_jobs=False)
    call(first, "ListKeys")
    first.services.audit.close()
    second = KMSApp(dep, run_jobs=False)  # a restart: a chain of its own
    call(second, "ListKeys")
    second.services.audit.close()
    assert verify(dep)[0:2] == (2, 4) and verify(dep)[2] == []
    old = first.services.audit.chain_id
    with dep.db.write() as tx:
        tx._conn.execute(text("DELETE FROM audit_events WHERE chain = :c"), {"c": old})
        tx._conn.execute(text("DELETE FROM audit_chains WHERE chain = :c"), {"c": old})
    [finding] = verify(dep)[2]
    assert finding.chain == old and "the whole chain is missing" in finding.problem
    first.pool.shutdown()
    second.pool.shutdown()
    dep.close()


def test_events_of_one_group_share_one_write(app: KMSApp) -> None:
    """Requests answered together: their events are committed in fewer writes than events."""
    counts: Counter[str] = Counter()

    async def many() -> None:
        loop = asyncio.get_running_loop()
        await asyncio.gather(*(loop.run_in_executor(None, call, app, "ListKeys") for _ in range(40)))

    writes = 0
    original = app.dep.db.write

    def counting(**kw: Any) -> Any:
        nonlocal writes
        writes += 1
        return original(**kw)

    app.dep.db.write = counting  # type: ignore[method-assign]
    try:
        asyncio.run(many())
    finally:
        app.dep.db.write = original  # type: ignore[method-assign]
    counts.update(e["eventName"] for e in stored(app))
    assert counts["ListKeys"] == 40
    assert writes < 40


def test_an_audit_file_that_cannot_be_written_fails_calls_closed_in_reject_mode(tmp_path: Path) -> None:
    """audit_file_mode reject: while the file cannot be written, calls are answered 503 and a
    call that would change state is refused before it acts; once it can, calls are served."""
    missing = tmp_path / "not-yet" / "audit.jsonl"
    settings = Settings(data_dir=tmp_path / "data", audit_file=missing, audit_file_mode="reject")
    dep, _ = init_deployment(settings, root_access_key=(AK, SECRET))
    app = KMSApp(dep, run_jobs=False)
    try:
        status, body = call(app, "ListKeys")
        assert (status, body["Code"]) == (503, "ServiceUnavailableTemporary")
        status, body = call(app, "CreateKey")
        assert (status, body["Code"]) == (503, "ServiceUnavailableTemporary")
        with dep.db.read() as tx:
            assert tx.scalar(text("SELECT count(*) FROM keys")) == 0  # refused before it acted
        missing.parent.mkdir()
        assert call(app, "ListKeys")[0] == 200
        assert call(app, "CreateKey")[0] == 200
        assert verify(dep)[2] == []
    finally:
        app.pool.shutdown()
        app.services.audit.close()
        dep.close()


def test_continue_mode_answers_and_logs_when_the_file_fails(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    settings = Settings(data_dir=tmp_path / "data", audit_file=tmp_path / "nowhere" / "a.jsonl")
    dep, _ = init_deployment(settings, root_access_key=(AK, SECRET))
    app = KMSApp(dep, run_jobs=False)
    try:
        assert call(app, "ListKeys")[0] == 200
        assert "the audit file" in caplog.text
    finally:
        app.pool.shutdown()
        app.services.audit.close()
        dep.close()


def test_metrics_count_the_events_written(app: KMSApp) -> None:
    call(app, "ListKeys")
    gauges = {name: value for name, _, value in app._gauges()}
    assert gauges["openkms_audit_events_written_total"] >= 2  # the chain's first event and the call's
    assert gauges["openkms_audit_events_failed_total"] == 0
    assert gauges["openkms_audit_failing"] == 0
    assert "openkms_audit_events_pending" in gauges
    assert gauges["openkms_sealed"] == 0
