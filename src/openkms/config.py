"""One settings object: command-line flags > ``OPENKMS_*`` environment > defaults.

Secrets (AccessKey secrets, database passwords inside URLs) are held in :class:`Hidden`, whose
repr never shows the value.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path


class Hidden:
    """A string that does not print itself."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Hidden('**********')"

    __str__ = __repr__


def _env(name: str, default: str | None = None) -> str | None:
    return os.environ.get(f"OPENKMS_{name}", default)


def _int(name: str, default: int) -> int:
    return int(_env(name) or default)


def _float(name: str, default: float) -> float:
    return float(_env(name) or default)


@dataclass
class Settings:
    data_dir: Path = field(default_factory=lambda: Path(_env("DATA_DIR", "./data") or "./data"))
    database: str | None = field(default_factory=lambda: _env("DATABASE"))
    root_key_file: Path | None = field(
        default_factory=lambda: Path(p) if (p := _env("ROOT_KEY_FILE")) else None
    )
    region: str = field(default_factory=lambda: _env("REGION", "cn-hangzhou") or "cn-hangzhou")
    host: str = field(default_factory=lambda: _env("HOST", "127.0.0.1") or "127.0.0.1")
    port: int = field(default_factory=lambda: int(_env("PORT", "8080") or "8080"))
    workers: int = field(default_factory=lambda: int(_env("WORKERS", "1") or "1"))
    tls_cert: Path | None = None
    tls_key: Path | None = None
    insecure_http: bool = False
    # Seconds one wait on PostgreSQL may take: connect, pool checkout, statement or lock wait.
    db_timeout: float = field(default_factory=lambda: float(_env("DB_TIMEOUT", "5") or "5"))
    # Seconds after a request's arrival at which its waits on PostgreSQL are cut off (a database
    # that stopped answering): it fails with 503 ServiceUnavailableTemporary and rolls back
    # (below the 10 s read timeout of the official SDKs, so they hear the 503).
    request_timeout: float = field(default_factory=lambda: float(_env("REQUEST_TIMEOUT", "8") or "8"))
    # The job runner: every process ticks every `job_period` seconds; the process holding the
    # lease renews it on each tick, and another takes over `job_lease` seconds after its last
    # renewal (so within job_lease + job_period of the holder dying).
    job_period: float = field(default_factory=lambda: float(_env("JOB_PERIOD", "5") or "5"))
    job_lease: float = field(default_factory=lambda: float(_env("JOB_LEASE", "30") or "30"))
    # Signed requests must carry a timestamp within this many seconds of the server's clock.
    time_window: int = 15 * 60
    log_requests: bool = True
    # Requests in flight per worker process before new ones are answered 429 Rejected.Throttling.
    # A request counts once its head and body have arrived.
    max_inflight: int = field(default_factory=lambda: _int("MAX_INFLIGHT", 256))
    # Seconds a whole request may wait for a thread before it starts; past it the answer is 429
    # Rejected.Throttling and the request has had no effect.
    queue_timeout: float = field(default_factory=lambda: _float("QUEUE_TIMEOUT", 2.0))
    # Proxies (comma-separated addresses or CIDR blocks) whose X-Forwarded-For names the client
    # that policies see as acs:SourceIp; from any other peer the header is ignored.
    trusted_proxies: str = field(default_factory=lambda: _env("TRUSTED_PROXIES", "") or "")
    # GET /metrics answers only requests bearing this token (Authorization: Bearer <token>);
    # empty: anyone who reaches the port.
    metrics_token: str = field(default_factory=lambda: _env("METRICS_TOKEN", "") or "")
    # The front door (http.py), per worker process: seconds to receive a request head (from the
    # connection's opening or the request's first byte) and a body (from the end of its head),
    # the least average body rate in bytes per second once a body is past its first two seconds
    # (0: none), seconds an idle kept-alive connection stays open, the size and number of header
    # fields, open connections, and bytes of requests not yet whole held in memory.
    head_timeout: float = field(default_factory=lambda: _float("HEAD_TIMEOUT", 10.0))
    body_timeout: float = field(default_factory=lambda: _float("BODY_TIMEOUT", 30.0))
    body_min_rate: int = field(default_factory=lambda: _int("BODY_MIN_RATE", 1024))
    keep_alive_timeout: float = field(default_factory=lambda: _float("KEEP_ALIVE_TIMEOUT", 30.0))
    max_header_bytes: int = field(default_factory=lambda: _int("MAX_HEADER_BYTES", 16 * 1024))
    max_headers: int = field(default_factory=lambda: _int("MAX_HEADERS", 100))
    max_connections: int = field(default_factory=lambda: _int("MAX_CONNECTIONS", 4096))
    max_pending_bytes: int = field(default_factory=lambda: _int("MAX_PENDING_BYTES", 64 << 20))
    # Bounds of the per-process caches (service/caches.py says what each holds and when it goes
    # stale): entries for each, and seconds for the two with an age bound.
    material_cache: int = field(default_factory=lambda: _int("MATERIAL_CACHE", 100_000))
    read_cache: int = field(default_factory=lambda: _int("READ_CACHE", 10_000))
    read_max_age: float = field(default_factory=lambda: _float("READ_MAX_AGE", 1.0))
    parsed_key_cache: int = field(default_factory=lambda: _int("PARSED_KEY_CACHE", 10_000))
    credential_cache: int = field(default_factory=lambda: _int("CREDENTIAL_CACHE", 10_000))
    credential_seconds: float = field(default_factory=lambda: _float("CREDENTIAL_SECONDS", 1.0))

    @property
    def database_url(self) -> str:
        return self.database or f"sqlite:///{self.data_dir / 'openkms.db'}"

    @property
    def root_key_path(self) -> Path:
        return self.root_key_file or self.data_dir / "root.key"
