"""How the server serves: the benchmark's own requests are real ones, every worker process logs,
and actions run on the event loop or the thread pool alike."""

from __future__ import annotations

import http.client
import json
import socket
import sys
import time
from pathlib import Path

from tests.support.clients import http_connection
from tests.support.server import ACCESS_KEY_ID, ACCESS_KEY_SECRET, ServerProcess, running

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
from signer import Signer


def _send(endpoint: str, raw: bytes) -> tuple[int, dict[str, object]]:
    host, port = endpoint.split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(raw)
        resp = http.client.HTTPResponse(sock)
        resp.begin()
        return resp.status, json.loads(resp.read())


def test_bench_signer_requests_are_served(server: ServerProcess) -> None:
    """The benchmark's pre-signed V1 (old SDK shape) and V3 (Tea shape) requests are accepted."""
    signer = Signer(server.endpoint, ACCESS_KEY_ID, ACCESS_KEY_SECRET)
    status, created = _send(server.endpoint, signer.v1("CreateKey", {"Description": "bench shape"}))
    assert status == 200, created
    key_id = created["KeyMetadata"]["KeyId"]  # type: ignore[index]
    for scheme in ("v1", "v3"):
        status, answer = _send(server.endpoint, signer.sign(scheme, "DescribeKey", {"KeyId": key_id}))
        assert (200, key_id) == (status, answer["KeyMetadata"]["KeyId"])  # type: ignore[index]


def test_replayed_bench_request_is_refused(server: ServerProcess) -> None:
    """A pre-signed request sent twice is refused the second time (the benchmark never does)."""
    raw = Signer(server.endpoint, ACCESS_KEY_ID, ACCESS_KEY_SECRET).v3("ListKeys", {"PageSize": "1"})
    assert _send(server.endpoint, raw)[0] == 200
    status, answer = _send(server.endpoint, raw)
    assert (status, answer["Code"]) == (400, "SignatureNonceUsed")


def test_every_worker_process_writes_the_request_log(tmp_path: Path) -> None:
    """With several workers, each request still gets its JSON log line (action, status, code)."""
    with running(ServerProcess(tmp_path / "data", extra_args=["--workers", "2"])) as srv:
        signer = Signer(srv.endpoint, ACCESS_KEY_ID, ACCESS_KEY_SECRET)
        for _ in range(6):
            assert _send(srv.endpoint, signer.v3("ListKeys", {}))[0] == 200
        assert _send(srv.endpoint, signer.v3("DescribeKey", {"KeyId": "missing"}))[0] == 404
        deadline = time.monotonic() + 5
        lines: list[dict[str, object]] = []
        while time.monotonic() < deadline:
            lines = [json.loads(ln) for ln in srv.log_path.read_text().splitlines()]
            lines = [ln for ln in lines if ln["logger"] == "openkms.request"]
            if len(lines) >= 7:
                break
            time.sleep(0.1)
    assert sum(1 for ln in lines if (ln["action"], ln["status"], ln["code"]) == ("ListKeys", 200, "-")) == 6
    assert sum(1 for ln in lines if (ln["action"], ln["code"]) == ("DescribeKey", "Forbidden.KeyNotFound")) == 1


def test_head_and_get_answers_share_one_kept_alive_connection(server: ServerProcess) -> None:
    """HEAD /health (a head with no body) is answered at once, and the connection then serves
    whole answers to further requests: the one-send transport holds nothing back."""
    conn = http_connection(server.endpoint, timeout=5)
    try:
        answers = []
        for method in ("HEAD", "GET", "HEAD", "GET"):
            conn.request(method, "/health")
            resp = conn.getresponse()
            answers.append((method, resp.status, resp.read()))
    finally:
        conn.close()
    assert answers == [
        ("HEAD", 200, b""), ("GET", 200, b'{"Status":"ok"}'), ("HEAD", 200, b""), ("GET", 200, b'{"Status":"ok"}'),
    ]


def test_each_answer_arrives_in_one_segment(server: ServerProcess) -> None:
    """Head and body of an answer leave in one write: the first read after the answer begins
    holds all of it (two writes would be two segments on a TCP_NODELAY socket)."""
    host, port = server.endpoint.split(":")
    whole = 0
    with socket.create_connection((host, int(port)), timeout=5) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for _ in range(20):
            sock.sendall(b"GET /health HTTP/1.1\r\nhost: x\r\n\r\n")
            first = sock.recv(65536)
            whole += first.endswith(b'{"Status":"ok"}')
            while not first.endswith(b'{"Status":"ok"}'):
                first += sock.recv(65536)
    assert whole == 20


def test_answers_do_not_name_the_server_software(server: ServerProcess) -> None:
    """No "server" header: an answer does not tell which HTTP server runs openkms."""
    conn = http_connection(server.endpoint, timeout=5)
    try:
        conn.request("GET", "/health")
        resp = conn.getresponse()
        resp.read()
    finally:
        conn.close()
    assert (resp.status, resp.getheader("server"), bool(resp.getheader("date"))) == (200, None, True)
