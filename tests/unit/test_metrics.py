"""The request counters, the text format and the sample Grafana dashboard."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from openkms.metrics import EXPORTED, Metrics, render

DASHBOARD = Path(__file__).resolve().parents[2] / "deploy" / "grafana-openkms.json"


def _samples(metrics: Metrics) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = render(metrics.samples([("openkms_requests_in_flight", (), 2)])).decode()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_requests_are_counted_by_action_code_and_status_with_latency_buckets() -> None:
    m = Metrics(pid=7)
    m.request("Encrypt", "-", 200, 0.0004)
    m.request("Encrypt", "-", 200, 0.003)
    m.request("Encrypt", "Forbidden.KeyNotFound", 404, 30.0)
    m.request('we"ird\naction', "-", 400, 0.001)
    m.rejected += 1
    m.unavailable["unavailable"] = 2
    got = _samples(m)
    pid = ("pid", "7")
    assert (
        got[("openkms_requests_total", (("action", "Encrypt"), ("code", "-"), pid, ("status", "200")))] == 2
    )
    key = (
        "openkms_requests_total",
        (("action", "Encrypt"), ("code", "Forbidden.KeyNotFound"), pid, ("status", "404")),
    )
    assert got[key] == 1
    assert (
        got[("openkms_requests_total", (("action", 'we"ird\naction'), ("code", "-"), pid, ("status", "400")))]
        == 1
    )

    def bucket(le: str) -> float:
        return got[("openkms_request_duration_seconds_bucket", (("action", "Encrypt"), ("le", le), pid))]

    assert (bucket("0.0005"), bucket("0.0025"), bucket("0.005"), bucket("10.0"), bucket("+Inf")) == (
        1,
        1,
        2,
        2,
        3,
    )
    assert got[("openkms_request_duration_seconds_count", (("action", "Encrypt"), pid))] == 3
    assert abs(got[("openkms_request_duration_seconds_sum", (("action", "Encrypt"), pid))] - 30.0034) < 1e-9
    assert got[("openkms_requests_rejected_total", (pid,))] == 1
    assert got[("openkms_database_unavailable_total", (pid, ("reason", "unavailable")))] == 2
    assert got[("openkms_requests_in_flight", (pid,))] == 2


def test_workers_read_each_others_published_series(tmp_path: Path) -> None:

    folder = tmp_path / "metrics"
    other = Metrics(pid=os.getppid(), folder=folder)  # a live process
    other.request("Encrypt", "-", 200, 0.001)
    other.publish()
    Metrics(pid=2**22 + 12345, folder=folder).publish()  # no such process: its file is dropped
    me = Metrics(pid=os.getpid(), folder=folder)
    seen = list(me.others())
    assert (
        "openkms_requests_total",
        (("action", "Encrypt"), ("code", "-"), ("status", "200"), ("pid", str(os.getppid()))),
        1.0,
    ) in seen
    assert sorted(p.name for p in folder.iterdir()) == [f"{os.getppid()}.json"]


def test_the_grafana_dashboard_loads_and_uses_only_exported_metrics() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    exprs = [t["expr"] for panel in dashboard["panels"] for t in panel.get("targets", [])]
    assert exprs
    used = {name for expr in exprs for name in re.findall(r"\bopenkms_[a-z_]+", expr)}
    exported = set(EXPORTED) | {f"{n}_{suffix}" for n in EXPORTED for suffix in ("bucket", "sum", "count")}
    assert used and used <= exported, used - exported
    # The panels an operator looks at first after traffic: the caches' hit ratio, the nonce store.
    assert {"openkms_cache_hits_total", "openkms_cache_misses_total", "openkms_nonce_store_entries"} <= used
