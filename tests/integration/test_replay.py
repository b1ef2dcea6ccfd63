"""Replay and signatures across schemes and processes.

Every signature scheme a KMS endpoint meets (V1 HMAC-SHA1, V3 ACS3-HMAC-SHA256, V4
ACS4-HMAC-SHA256) refuses a wrong secret, a parameter changed after signing and a signed header
(or signed common parameter) changed after signing; none of those refusals uses up the nonce.
A signed request is accepted once: replayed to the other worker of ``openkms serve --workers 2``,
raced to both workers at once, or replayed after a kill -9, it is SignatureNonceUsed.
"""

from __future__ import annotations

import http.client
import json
import re
import secrets
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from urllib.parse import quote, urlencode

import pytest

from openkms.wire import signing
from tests.support.clients import REGION, RawSigner, http_connection
from tests.support.server import ACCESS_KEY_ID, ACCESS_KEY_SECRET, ServerProcess, running
from tests.support.tagged_server import HEADER


@dataclass(frozen=True)
class Signed:
    """A request exactly as it goes on the wire: change any part of it after signing."""

    method: str
    query: list[tuple[str, str]]
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""

    def target(self) -> str:
        return "/?" + urlencode(self.query, quote_via=quote) if self.query else "/"

    def with_query(self, name: str, value: str) -> Signed:
        return replace(self, query=[(k, value if k == name else v) for k, v in self.query])

    def with_header(self, name: str, value: str) -> Signed:
        return replace(self, headers={**self.headers, name: value})


def sign_v1(action: str, params: dict[str, str], secret: str = ACCESS_KEY_SECRET) -> Signed:
    common = {
        "Action": action, "Version": "2016-01-20", "Format": "JSON", "AccessKeyId": ACCESS_KEY_ID,
        "SignatureMethod": "HMAC-SHA1", "SignatureVersion": "1.0",
        "SignatureNonce": secrets.token_hex(16), "Timestamp": RawSigner.timestamp(),
    }
    items = sorted({**common, **params}.items())
    signature = signing.v1_signature(secret, signing.v1_string_to_sign("POST", items))
    return Signed("POST", [*items, ("Signature", signature)])


def sign_v3v4(scheme: str, host: str, action: str, params: dict[str, str], secret: str = ACCESS_KEY_SECRET) -> Signed:
    stamp = RawSigner.timestamp()
    headers = {
        "host": host, "x-acs-action": action, "x-acs-version": "2016-01-20", "x-acs-date": stamp,
        "x-acs-signature-nonce": secrets.token_hex(16), "x-acs-content-sha256": signing.EMPTY_SHA256,
    }
    names = sorted(headers)
    query = sorted(params.items())
    canonical = signing.canonical_request("POST", "/", query, list(headers.items()), names, signing.EMPTY_SHA256)
    if scheme == "v3":
        credential = ACCESS_KEY_ID
        signature = signing.v3_signature(secret, signing.v3_string_to_sign(canonical))
        algorithm = signing.V3_ALGORITHM
    else:
        date = stamp[:10].replace("-", "")
        credential = f"{ACCESS_KEY_ID}/{date}/{REGION}/Kms/aliyun_v4_request"
        key = signing.v4_signing_key(secret, date, REGION, "Kms")
        signature = signing.v4_signature(key, signing.v4_string_to_sign(canonical))
        algorithm = signing.V4_ALGORITHM
    headers["Authorization"] = f"{algorithm} Credential={credential},SignedHeaders={';'.join(names)},Signature={signature}"
    return Signed("POST", query, headers)


def sign(scheme: str, host: str, action: str, params: dict[str, str], secret: str = ACCESS_KEY_SECRET) -> Signed:
    return sign_v1(action, params, secret) if scheme == "v1" else sign_v3v4(scheme, host, action, params, secret)


def send(conn: http.client.HTTPConnection, req: Signed) -> tuple[int, str, str]:
    """(status, Alibaba code or "", serving worker pid or "")."""
    conn.request(req.method, req.target(), body=req.body or None, headers=req.headers)
    resp = conn.getresponse()
    payload = resp.read()
    code = ""
    if resp.status != 200:
        found = re.search(rb"<Code>([^<]*)</Code>", payload)  # an XML answer (Format=XML)
        code = found.group(1).decode() if found else json.loads(payload).get("Code", "")
    return resp.status, code, resp.getheader(HEADER.decode(), "")


# -- every scheme: wrong secret, changed parameter, changed signed header --------------------


def _other_second(stamp: str) -> str:
    """The same timestamp in another second of the same minute (still inside the window)."""
    return stamp[:-3] + ("58Z" if stamp.endswith("59Z") else "59Z")


def _tampered(scheme: str, genuine: Signed, host: str) -> Iterator[tuple[str, Signed]]:
    yield "wrong secret", sign(scheme, host, "ListKeys", {"PageSize": "5"}, secret="WrongSecret0123456789abcd")
    yield "changed parameter", genuine.with_query("PageSize", "6")
    yield "added parameter", replace(genuine, query=[*genuine.query, ("PageNumber", "2")])
    if scheme == "v1":
        yield "changed Action", genuine.with_query("Action", "DescribeRegions")
        yield "changed Timestamp", genuine.with_query("Timestamp", _other_second(dict(genuine.query)["Timestamp"]))
        yield "changed Format", genuine.with_query("Format", "XML")
        yield "changed method", replace(genuine, method="GET")
        return
    yield "changed x-acs-action", genuine.with_header("x-acs-action", "CreateKey")
    yield "changed x-acs-date", genuine.with_header("x-acs-date", _other_second(genuine.headers["x-acs-date"]))
    yield "changed x-acs-signature-nonce", genuine.with_header("x-acs-signature-nonce", secrets.token_hex(16))
    yield "changed host", genuine.with_header("host", "kms.evil.example")
    yield "changed body", replace(genuine, body=b"PageNumber=2", headers={**genuine.headers, "content-type": "application/x-www-form-urlencoded"})
    auth = genuine.headers["Authorization"]
    yield "header dropped from SignedHeaders", genuine.with_header("Authorization", auth.replace("host;", ""))
    if scheme == "v4":
        yield "changed scope region", genuine.with_header("Authorization", auth.replace(f"/{REGION}/", "/cn-shanghai/"))


@pytest.mark.parametrize("scheme", ["v1", "v3", "v4"])
def test_tampered_requests_are_refused_and_do_not_use_the_nonce(server: ServerProcess, scheme: str) -> None:
    """Wrong secret, changed or added parameter, changed signed header, added body: refused (4xx,
    SignatureDoesNotMatch where the signature is what fails, IncompleteSignature where the signature
    does not cover what it must); afterwards the genuine request still succeeds once, then is replay."""
    conn = http_connection(server.endpoint)
    genuine = sign(scheme, server.endpoint, "ListKeys", {"PageSize": "5"})
    try:
        answers = {label: send(conn, req)[:2] for label, req in _tampered(scheme, genuine, server.endpoint)}
        first, again = send(conn, genuine)[:2], send(conn, genuine)[:2]
    finally:
        conn.close()
    expected = {label: (400, "SignatureDoesNotMatch") for label in answers}
    if "header dropped from SignedHeaders" in expected:
        expected["header dropped from SignedHeaders"] = (400, "IncompleteSignature")
        # The genuine request has no body and so signs no content-type: one added with a body
        # is refused before the signature is computed.
        expected["changed body"] = (400, "IncompleteSignature")
    assert expected == answers
    assert (first, again) == ((200, ""), (400, "SignatureNonceUsed"))


# -- replay to another worker, races, kill -9 -------------------------------------------------


@pytest.fixture(scope="module")
def two_workers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ServerProcess, dict[str, http.client.HTTPConnection]]]:
    """``openkms serve --workers 2`` over SQLite, and one kept-alive connection to each worker."""
    srv = ServerProcess(tmp_path_factory.mktemp("workers") / "data", module="tests.support.tagged_server",
                        extra_args=["--workers", "2"])
    by_worker: dict[str, http.client.HTTPConnection] = {}
    lock = threading.Lock()

    def probe() -> None:
        conn = http_connection(srv.endpoint)
        conn.request("GET", "/health")
        resp = conn.getresponse()
        resp.read()
        with lock:
            if by_worker.setdefault(resp.getheader(HEADER.decode(), ""), conn) is not conn:
                conn.close()

    with running(srv):
        deadline = time.monotonic() + 20
        while len(by_worker) < 2 and time.monotonic() < deadline:
            probes = [threading.Thread(target=probe) for _ in range(8)]
            for t in probes:
                t.start()
            for t in probes:
                t.join()
            time.sleep(0.05)
        try:
            assert len(by_worker) == 2, f"only reached workers {sorted(by_worker)}"
            yield srv, by_worker
        finally:
            for conn in by_worker.values():
                conn.close()


@pytest.mark.parametrize("scheme", ["v1", "v3", "v4"])
def test_replay_to_the_other_worker_is_refused(two_workers: tuple[ServerProcess, dict[str, http.client.HTTPConnection]], scheme: str) -> None:
    """A request served by one worker process and replayed to the other is SignatureNonceUsed."""
    srv, conns = two_workers
    (pid_a, conn_a), (pid_b, conn_b) = sorted(conns.items())
    req = sign(scheme, srv.endpoint, "CreateKey", {"Description": f"replay {scheme}"})
    assert (200, "", pid_a) == send(conn_a, req)
    assert (400, "SignatureNonceUsed", pid_b) == send(conn_b, req)
    assert (400, "SignatureNonceUsed", pid_a) == send(conn_a, req)


def test_race_to_both_workers_is_served_once(two_workers: tuple[ServerProcess, dict[str, http.client.HTTPConnection]]) -> None:
    """The same request sent to both workers at the same moment, 20 times: exactly one 200 each time."""
    srv, conns = two_workers
    pids = sorted(conns)
    for i in range(20):
        req = sign("v1" if i % 2 else "v3", srv.endpoint, "CreateKey", {"Description": f"race {i}"})
        results: dict[str, tuple[int, str, str]] = {}
        go = threading.Barrier(2)

        def fire(pid: str, req: Signed = req, results: dict[str, tuple[int, str, str]] = results, go: threading.Barrier = go) -> None:
            go.wait()
            results[pid] = send(conns[pid], req)

        threads = [threading.Thread(target=fire, args=(pid,)) for pid in pids]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        assert sorted(results[p][:2] for p in pids) == [(200, ""), (400, "SignatureNonceUsed")], results
        assert {results[p][2] for p in pids} == set(pids)


@pytest.mark.parametrize("scheme", ["v1", "v3"])
def test_burst_of_one_request_on_many_connections_is_served_once(server: ServerProcess, scheme: str) -> None:
    """The same request fired on 12 connections at once (their nonce checks share one batch
    of the replay guard), 10 times: exactly one 200, every other answer SignatureNonceUsed."""
    conns = [http_connection(server.endpoint) for _ in range(12)]
    try:
        for i in range(10):
            req = sign(scheme, server.endpoint, "ListKeys", {"PageSize": str(1 + i % 5)})
            go = threading.Barrier(len(conns))
            codes: list[tuple[int, str]] = []

            def fire(conn: http.client.HTTPConnection, req: Signed = req, go: threading.Barrier = go,
                     codes: list[tuple[int, str]] = codes) -> None:
                go.wait()
                codes.append(send(conn, req)[:2])

            threads = [threading.Thread(target=fire, args=(c,)) for c in conns]
            for t in threads:
                t.start()
            for t in threads:
                t.join(30)
            assert sorted(codes) == [(200, "")] + [(400, "SignatureNonceUsed")] * 11, codes
    finally:
        for conn in conns:
            conn.close()


def test_replay_after_kill9_is_refused(tmp_path: Path) -> None:
    """Nonces survive kill -9 too (not only a clean restart): the replay after it is SignatureNonceUsed."""
    with running(ServerProcess(tmp_path / "data")) as srv:
        raw = RawSigner(srv.endpoint)
        reqs = [sign(scheme, srv.endpoint, "ListKeys", {}) for scheme in ("v1", "v3", "v4")]
        conn = http_connection(srv.endpoint)
        assert [send(conn, r)[:2] for r in reqs] == [(200, "")] * 3
        conn.close()
        srv.kill9()
        srv.start()  # the same port: the V3/V4 host header still matches
        conn = http_connection(srv.endpoint)
        replayed = [send(conn, r)[:2] for r in reqs]
        conn.close()
        assert replayed == [(400, "SignatureNonceUsed")] * 3
        assert raw.v1("ListKeys").status == 200

