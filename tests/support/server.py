"""A real ``openkms serve`` process for integration tests: init, start, stop, restart, kill -9.

``serve`` never creates a deployment, so :meth:`ServerProcess.start` runs ``openkms init`` first
over a data directory (or database) that holds none, with the test root AccessKey
(:data:`ACCESS_KEY_ID`) from the environment, as an operator would.
"""

from __future__ import annotations

import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ACCESS_KEY_ID = "LTAI5tTestAccessKeyId0001"
ACCESS_KEY_SECRET = "TestAccessKeySecret0123456789ABCD"
CLI = [sys.executable, "-m", "openkms.cli"]


def free_port() -> int:
    """A TCP port on the loopback address that nothing listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class ServerProcess:
    """Runs ``python -m openkms.cli serve`` on a free loopback port over ``data_dir``, and over
    ``database`` (a PostgreSQL URL) when given; ``root_key_file`` is the shared root of trust."""

    def __init__(
        self,
        data_dir: Path,
        *,
        extra_args: list[str] | None = None,
        env: dict[str, str] | None = None,
        module: str = "openkms.cli",
        database: str | None = None,
        root_key_file: Path | None = None,
        migrate: bool = True,
    ) -> None:
        self.data_dir = data_dir
        self.module = module
        self.database = database
        self.root_key_file = root_key_file
        self.migrate = migrate
        self.port = free_port()
        self.extra_args = extra_args or []
        self.env = {
            **os.environ,
            "OPENKMS_ROOT_ACCESS_KEY_ID": ACCESS_KEY_ID,
            "OPENKMS_ROOT_ACCESS_KEY_SECRET": ACCESS_KEY_SECRET,
            "PYTHONPATH": str(Path(__file__).parents[2]),
            **(env or {}),
        }
        self.proc: subprocess.Popen[bytes] | None = None
        self.ssl_context: object | None = None  # set by TLS tests: health checks then use https
        self.log_path = data_dir.parent / f"{data_dir.name}-server.log"

    @property
    def store_args(self) -> list[str]:
        """The flags that name this server's store, for `openkms access-key ...` and friends."""
        args = ["--data-dir", str(self.data_dir)]
        if self.database is not None:
            args += ["--database", self.database]
        if self.root_key_file is not None:
            args += ["--root-key-file", str(self.root_key_file)]
        return args

    def query(self, sql: str) -> list[tuple[Any, ...]]:
        """The rows of a read-only query on this server's database (SQLite file or PostgreSQL)."""
        if self.database is None:
            db = sqlite3.connect(f"file:{self.data_dir / 'openkms.db'}?mode=ro", uri=True)
            try:
                return db.execute(sql).fetchall()
            finally:
                db.close()
        import psycopg

        with psycopg.connect(self.database, autocommit=True) as conn:
            return conn.execute(sql).fetchall()  # type: ignore[arg-type]

    def stored_bytes(self) -> dict[str, bytes]:
        """Everything this server keeps at rest, by where it is: the files of the data directory,
        and on PostgreSQL every row of every table (bytes as stored, other values as text)."""
        stored = {p.name: p.read_bytes() for p in self.data_dir.rglob("*") if p.is_file()}
        if self.database is not None:
            tables = [r[0] for r in self.query("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")]
            for table in tables:
                parts = [
                    bytes(v) if isinstance(v, (bytes, memoryview)) else str(v).encode()
                    for row in self.query(f'SELECT * FROM "{table}"') for v in row
                ]
                stored[f"table {table}"] = b"\x00".join(parts)
        return stored

    def at_rest(self) -> dict[str, bytes]:
        """What a scan for leaked secrets reads: :meth:`stored_bytes` and the log, as "server log"."""
        files = self.stored_bytes()
        files["server log"] = self.log_path.read_bytes()
        return files

    def new_access_key(self) -> tuple[str, str]:
        """Run `openkms access-key create` over this server's store; the new (AccessKeyId, AccessKeySecret)."""
        out = subprocess.run(
            [*CLI, "access-key", "create", *self.store_args], check=True, capture_output=True, text=True
        ).stdout
        return out.split("AccessKeyId:")[1].split()[0], out.split("AccessKeySecret:")[1].split()[0]

    def new_account(self, name: str = "") -> tuple[str, str, str]:
        """Run `openkms account create` over this server's store (its root AccessKey generated);
        the new account's (uid, AccessKeyId, AccessKeySecret)."""
        env = {k: v for k, v in self.env.items() if not k.startswith("OPENKMS_ROOT_ACCESS_KEY_")}
        out = subprocess.run(
            [*CLI, "account", "create", "--name", name, *self.store_args],
            env=env, check=True, capture_output=True, text=True, timeout=60,
        ).stdout
        uid = out.split("created account ")[1].split()[0]
        return uid, out.split("AccessKeyId:")[1].split()[0], out.split("AccessKeySecret:")[1].split()[0]

    @property
    def endpoint(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return f"http://{self.endpoint}/"

    def has_deployment(self) -> bool:
        """Whether this server's store holds a deployment (made by `openkms init`)."""
        if self.database is None:
            return (self.data_dir / "openkms.db").exists()
        import psycopg

        with psycopg.connect(self.database, autocommit=True) as conn:
            if conn.execute("SELECT to_regclass('public.meta')").fetchone() == (None,):
                return False
            return conn.execute("SELECT 1 FROM meta WHERE name = 'root_fingerprint'").fetchone() is not None

    def init(self) -> subprocess.CompletedProcess[str]:
        """Run `openkms init` over this server's store (the root AccessKey from the environment)."""
        return subprocess.run(
            [*CLI, "init", *self.store_args], env=self.env, check=True, capture_output=True, text=True, timeout=60
        )

    def ensure_initialised(self) -> None:
        """`openkms init` unless the store holds a deployment already."""
        if not self.has_deployment():
            self.init()

    def start(self, timeout: float = 20.0) -> None:
        self.ensure_initialised()
        with open(self.log_path, "ab") as log:
            self.proc = self._spawn(log)
        self._wait_healthy(timeout)

    def _spawn(self, log: object) -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            [sys.executable, "-m", self.module, "serve", *self.store_args,
             *(["--migrate"] if self.database is not None and self.migrate else []),
             "--port", str(self.port), *self.extra_args],
            stdout=log, stderr=subprocess.STDOUT, env=self.env, start_new_session=True,  # type: ignore[arg-type]
        )

    def _wait_healthy(self, timeout: float) -> None:
        assert self.proc is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"openkms exited with {self.proc.returncode}: {self.log()}")
            try:
                scheme = "https" if self.ssl_context is not None else "http"
                with urllib.request.urlopen(
                    f"{scheme}://{self.endpoint}/health", timeout=1, context=self.ssl_context  # type: ignore[arg-type]
                ) as r:
                    if r.status == 200:
                        return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"openkms did not become healthy: {self.log()}")

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-4000:]
        except FileNotFoundError:
            return ""

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)
        self.proc = None

    def kill9(self) -> None:
        """SIGKILL the whole process group: no shutdown hook, no flush."""
        if self.proc is not None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)
        self.proc = None

    def restart(self) -> None:
        self.stop()
        self.port = free_port()
        self.start()


@contextmanager
def running(srv: ServerProcess) -> Iterator[ServerProcess]:
    """Start ``srv`` and stop it when the block ends, however it ends."""
    try:
        srv.start()
        yield srv
    finally:
        srv.stop()


def run_init(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run `openkms init ARGS` to its end: exit code and output."""
    return subprocess.run([*CLI, "init", *args], capture_output=True, text=True, timeout=60, env=env)


def run_serve(*args: str) -> subprocess.CompletedProcess[str]:
    """Run `openkms serve ARGS` to its end (for start-ups that must be refused): exit code and output."""
    return subprocess.run([*CLI, "serve", *args], capture_output=True, text=True, timeout=60)
