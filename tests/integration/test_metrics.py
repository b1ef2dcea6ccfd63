"""GET /metrics (Prometheus text format, behind a bearer token when one is set) and GET /ready
through a real server; the PostgreSQL outage case is in test_postgres.py."""

from __future__ import annotations

import base64
import time
import urllib.error
import urllib.request
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from tests.support.clients import RawSigner
from tests.support.server import ServerProcess, free_port, run_serve, running

TOKEN = "metrics-test-token"


def _get(srv: ServerProcess, path: str, headers: dict[str, str] | None = None) -> tuple[int, str]:
    req = urllib.request.Request(f"http://{srv.endpoint}{path}", headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def _counted(text: str, action: str) -> float:
    """Requests for ``action`` answered 200, summed over the worker processes."""
    total = 0.0
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "openkms_requests_total" and sample.labels["action"] == action:
                total += sample.value if sample.labels["status"] == "200" else 0
    return total


def _encrypt_some(srv: ServerProcess, n: int) -> None:
    raw = RawSigner(srv.endpoint)
    created = raw.v1("CreateKey", {})
    assert created.status == 200
    key_id = created.json()["KeyMetadata"]["KeyId"]
    for _ in range(n):
        plaintext = base64.b64encode(b"counted").decode()
        assert raw.v1("Encrypt", {"KeyId": key_id, "Plaintext": plaintext}).status == 200


def test_metrics_need_the_token_and_count_encrypt(tmp_path: Path) -> None:
    with running(ServerProcess(tmp_path / "data", extra_args=["--metrics-token", TOKEN])) as srv:
        assert _get(srv, "/metrics")[0] == 401
        assert _get(srv, "/metrics", {"Authorization": "Bearer wrong-token"})[0] == 401
        assert _get(srv, "/metrics", {"Authorization": TOKEN})[0] == 401
        bearer = {"Authorization": f"Bearer {TOKEN}"}
        status, before = _get(srv, "/metrics", bearer)
        assert status == 200
        _encrypt_some(srv, 3)
        status, after = _get(srv, "/metrics", bearer)
        assert status == 200
        assert _counted(after, "Encrypt") == _counted(before, "Encrypt") + 3
        names = {family.name for family in text_string_to_metric_families(after)}
        assert {
            "openkms_request_duration_seconds",
            "openkms_cache_entries",
            "openkms_requests_in_flight",
        } <= names
        latency = {
            s.labels["le"]: s.value
            for f in text_string_to_metric_families(after)
            for s in f.samples
            if s.name == "openkms_request_duration_seconds_bucket" and s.labels["action"] == "Encrypt"
        }
        assert latency["+Inf"] >= 3


def test_metrics_without_a_token_are_open_and_ready_is_200(tmp_path: Path) -> None:
    with running(ServerProcess(tmp_path / "data")) as srv:
        assert _get(srv, "/metrics")[0] == 200
        assert _get(srv, "/ready") == (200, '{"Status":"ready"}')
        assert _get(srv, "/health") == (200, '{"Status":"ok"}')


def test_one_scrape_counts_every_worker(tmp_path: Path) -> None:
    """With --workers 2, whichever worker answers a scrape reports both workers' requests."""
    with running(ServerProcess(tmp_path / "data", extra_args=["--workers", "2"])) as srv:
        _encrypt_some(srv, 20)  # one connection per request: both workers serve some
        deadline = time.monotonic() + 10
        while True:
            counts = [_counted(_get(srv, "/metrics")[1], "Encrypt") for _ in range(4)]
            if all(c == 20 for c in counts):
                break
            assert time.monotonic() < deadline, counts
            time.sleep(0.3)


def _values(text: str, name: str) -> dict[str, float]:
    """``name``'s samples summed over the worker processes, by their ``cache`` label ("" if none)."""
    out: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name == name:
                label = s.labels.get("cache", "")
                out[label] = out.get(label, 0.0) + s.value
    return out


def test_cache_hits_and_misses_and_the_nonce_store_move_with_traffic(tmp_path: Path) -> None:
    with running(ServerProcess(tmp_path / "data")) as srv:
        before = _get(srv, "/metrics")[1]
        _encrypt_some(srv, 10)
        after = _get(srv, "/metrics")[1]
        hits_before, hits = _values(before, "openkms_cache_hits_total"), _values(after, "openkms_cache_hits_total")
        misses = _values(after, "openkms_cache_misses_total")
        assert set(hits) == {"reads", "material", "parsed_keys", "credentials", "sessions"}
        # The same key and AccessKey ten times: the key's material and the credential are
        # read once, then answered from the caches.
        assert hits["material"] - hits_before.get("material", 0) >= 9
        assert hits["credentials"] - hits_before.get("credentials", 0) >= 9
        assert misses["material"] >= 1
        # Every signed request recorded its nonce: 11 here, and the scrapes' own requests unsigned.
        nonces = _values(after, "openkms_nonce_store_entries")[""]
        assert nonces - _values(before, "openkms_nonce_store_entries").get("", 0) == 11


def test_metrics_listen_serves_metrics_there_and_not_on_the_main_port(tmp_path: Path) -> None:
    metrics_port = free_port()
    srv = ServerProcess(tmp_path / "data", extra_args=["--metrics-listen", f"127.0.0.1:{metrics_port}"])
    with running(srv):
        _encrypt_some(srv, 2)
        assert _get(srv, "/metrics")[0] == 404
        assert _get(srv, "/health")[0] == 200
        status, text = _get_at(metrics_port, "/metrics")
        assert status == 200 and _counted(text, "Encrypt") == 2
        assert _get_at(metrics_port, "/health")[0] == 404  # the metrics port answers /metrics only
        assert f"/metrics on 127.0.0.1:{metrics_port}" in srv.log()


def test_metrics_listen_must_be_an_address_of_its_own(tmp_path: Path) -> None:
    srv = ServerProcess(tmp_path / "data")
    srv.init()
    bad = run_serve(*srv.store_args, "--port", str(srv.port), "--metrics-listen", "nowhere")
    assert bad.returncode == 2 and "metrics_listen" in bad.stderr
    same = run_serve(*srv.store_args, "--port", str(srv.port), "--metrics-listen", f":{srv.port}")
    assert same.returncode == 2 and "differ" in same.stderr


def _get_at(port: int, path: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()
