"""Counting requests and writing them out in the Prometheus text exposition format.

Counting is on the request path, so it is plain integer arithmetic in dicts on the event loop
(the one thread that answers requests): no lock, no object per request. A request adds one to
its (action, code, status) counter and one to a latency bucket of its action.

Worker processes (``serve --workers N``) count for themselves. Every series carries the
worker's ``pid`` label, and every worker writes its counts to a file of the data directory's
``metrics/`` folder once a second (:meth:`Metrics.publish`); the worker that answers a scrape
writes out its own counts as they are and every other live worker's from its file (at most a
second old), so one scrape shows the whole node. A worker that ended takes its series with it
(a counter reset, which ``rate()`` handles).
"""

from __future__ import annotations

import bisect
import json
import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

__all__ = ["BUCKETS", "EXPORTED", "Metrics", "render"]

# Upper bounds of the latency buckets, in seconds (the last, +Inf, is implied).
BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

# name -> (type, help): every metric family the server exports.
EXPORTED: dict[str, tuple[str, str]] = {
    "openkms_requests_total": ("counter", "Requests answered, by action, Code and HTTP status."),
    "openkms_request_duration_seconds": ("histogram", "Seconds from a request's arrival to its answer."),
    "openkms_requests_in_flight": ("gauge", "Whole requests received and not yet answered."),
    "openkms_requests_rejected_total": (
        "counter",
        "Requests answered 429 at admission (in-flight limit or queue deadline), nothing done.",
    ),
    "openkms_database_unavailable_total": (
        "counter",
        "Answers 503 ServiceUnavailableTemporary, by reason (unavailable, disk_full).",
    ),
    "openkms_cache_entries": ("gauge", "Entries held by each per-process cache."),
    "openkms_cache_hits_total": ("counter", "Lookups each per-process cache answered itself."),
    "openkms_cache_misses_total": ("counter", "Lookups each per-process cache passed on (absent or stale)."),
    "openkms_nonce_store_entries": (
        "gauge",
        "Nonce records the node's store holds: slots filled in the nonce files (embedded), the "
        "nonces table's row estimate (PostgreSQL, from the process that prunes it).",
    ),
    "openkms_job_last_success_timestamp_seconds": (
        "gauge",
        "Unix time at which each job last ran to completion in this process (absent: never).",
    ),
    "openkms_job_lag_seconds": ("gauge", "Seconds since each job last ran to completion in this process."),
    "openkms_jobs_lease_held": ("gauge", "1 if this process holds the job lease and runs the jobs."),
    "openkms_ready": ("gauge", "1 if the node's last readiness check passed (GET /ready)."),
    "openkms_sealed": ("gauge", "1 while this process is sealed (no key-encryption key in memory)."),
    "openkms_audit_events_written_total": ("counter", "Audit events this process made durable."),
    "openkms_audit_events_failed_total": (
        "counter",
        "Audit events this process could not write (their calls answered 503 in reject mode).",
    ),
    "openkms_audit_events_pending": ("gauge", "Audit events waiting for the writer: the sink's lag."),
    "openkms_audit_failing": ("gauge", "1 while the last write to an audit sink failed."),
}

Labels = tuple[tuple[str, str], ...]
Sample = tuple[str, Labels, float]


class Metrics:
    """The counts of one worker process."""

    def __init__(self, pid: int, folder: Path | None = None) -> None:
        self.pid = pid
        self.folder = folder
        self.requests: dict[tuple[str, str, int], int] = {}
        # action -> [count per bucket (the last is +Inf), sum of seconds]
        self.latency: dict[str, list[float]] = {}
        self.rejected = 0
        self.unavailable: dict[str, int] = {}

    def request(self, action: str, code: str, status: int, seconds: float) -> None:
        """Count one answered request (the hot path: a few dict operations)."""
        key = (action, code, status)
        requests = self.requests
        requests[key] = requests.get(key, 0) + 1
        row = self.latency.get(action)
        if row is None:
            row = self.latency[action] = [0.0] * (len(BUCKETS) + 2)
        row[bisect.bisect_left(BUCKETS, seconds)] += 1
        row[-1] += seconds

    def samples(self, gauges: Iterable[Sample] = ()) -> list[Sample]:
        """This process's series (``gauges`` added), each labelled with its pid."""
        pid = (("pid", str(self.pid)),)
        out: list[Sample] = []
        for (action, code, status), n in self.requests.items():
            counted: Labels = (("action", action), ("code", code), ("status", str(status)), *pid)
            out.append(("openkms_requests_total", counted, n))
        for action, row in self.latency.items():
            labels: Labels = (("action", action), *pid)
            cumulative: float = 0.0
            for bound, hits in zip((*BUCKETS, float("inf")), row[:-1], strict=True):
                cumulative += hits
                le = "+Inf" if bound == float("inf") else repr(bound)
                out.append(("openkms_request_duration_seconds_bucket", (*labels, ("le", le)), cumulative))
            out.append(("openkms_request_duration_seconds_count", labels, cumulative))
            out.append(("openkms_request_duration_seconds_sum", labels, row[-1]))
        out.append(("openkms_requests_rejected_total", pid, self.rejected))
        for why, n in self.unavailable.items():
            out.append(("openkms_database_unavailable_total", (("reason", why), *pid), n))
        out.extend((name, (*labels, *pid), value) for name, labels, value in gauges)
        return out

    def publish(self, gauges: Iterable[Sample] = ()) -> None:
        """Write this process's series where the other workers read them (module docstring)."""
        if self.folder is None:
            return
        self.folder.mkdir(mode=0o700, exist_ok=True)
        path = self.folder / f"{self.pid}.json"
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps([[n, list(map(list, lab)), v] for n, lab, v in self.samples(gauges)]))
        os.replace(tmp, path)

    def others(self) -> Iterator[Sample]:
        """The series the other live workers published."""
        if self.folder is None or not self.folder.is_dir():
            return
        for path in self.folder.glob("*.json"):
            try:
                pid = int(path.stem)
            except ValueError:
                continue
            if pid == self.pid:
                continue
            if not _alive(pid):
                path.unlink(missing_ok=True)
                continue
            try:
                rows: list[Any] = json.loads(path.read_text())
            except (OSError, ValueError):
                continue  # being replaced, or gone
            for name, labels, value in rows:
                yield name, tuple((str(k), str(v)) for k, v in labels), float(value)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def render(samples: Iterable[Sample]) -> bytes:
    """The Prometheus text exposition format (version 0.0.4) of ``samples``, by family."""
    families: dict[str, list[str]] = {name: [] for name in EXPORTED}
    for name, labels, value in samples:
        family = name.removesuffix("_bucket").removesuffix("_count").removesuffix("_sum")
        if family not in families:
            family = name
        text = ",".join(f'{k}="{_escape(v)}"' for k, v in labels)
        families.setdefault(family, []).append(f"{name}{{{text}}} {_number(value)}")
    lines: list[str] = []
    for family, rows in families.items():
        if not rows:
            continue
        kind, doc = EXPORTED.get(family, ("untyped", ""))
        lines.append(f"# HELP {family} {doc}")
        lines.append(f"# TYPE {family} {kind}")
        lines.extend(rows)
    return ("\n".join(lines) + "\n").encode()


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))
