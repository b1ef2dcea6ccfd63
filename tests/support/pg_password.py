"""A private PostgreSQL cluster on loopback that checks passwords (scram-sha-256), for the tests
of managed secrets: the shared server at 127.0.0.1:5432 trusts every login, so a password that
stopped working would still log in there.

The cluster runs as the ``postgres`` system user (initdb refuses root) from a directory of its
own, on a free port, and is stopped with ``-m immediate`` and removed at the end.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import psycopg

from tests.support.server import free_port

SUPERUSER_PASSWORD = "super-Secret-9"


@dataclass(frozen=True)
class Cluster:
    port: int
    directory: str

    @property
    def dsn(self) -> str:
        """The DSN a secret target names (no account in it)."""
        return f"postgresql://127.0.0.1:{self.port}/postgres"

    def superuser(self) -> psycopg.Connection[tuple[object, ...]]:
        return psycopg.connect(self.dsn, user="postgres", password=SUPERUSER_PASSWORD, autocommit=True)

    def logs_in(self, user: str, password: str) -> bool:
        """Whether ``user`` logs in with ``password`` and runs a query."""
        try:
            with psycopg.connect(self.dsn, user=user, password=password, connect_timeout=5) as conn:
                return conn.execute("SELECT 1").fetchone() == (1,)
        except psycopg.OperationalError:
            return False

    def make_admin(self, name: str, password: str) -> None:
        """An admin with the least a rotation needs: CREATEROLE (not a superuser)."""
        with self.superuser() as conn:
            conn.execute(f"CREATE ROLE {name} LOGIN CREATEROLE PASSWORD '{password}'")

    def make_app(self, name: str, password: str) -> None:
        """An application account owning a table it can read."""
        with self.superuser() as conn:
            conn.execute(f"CREATE ROLE {name} LOGIN PASSWORD '{password}'")
            conn.execute(f"CREATE TABLE {name}_data (v int)")
            conn.execute(f"INSERT INTO {name}_data VALUES (42)")
            conn.execute(f"GRANT SELECT ON {name}_data TO {name}")

    def reads_data(self, user: str, password: str, table_of: str) -> bool:
        """Whether ``user`` logs in and reads the table of the app ``table_of``."""
        try:
            with psycopg.connect(self.dsn, user=user, password=password, connect_timeout=5) as conn:
                return conn.execute(f"SELECT v FROM {table_of}_data").fetchone() == (42,)
        except psycopg.Error:
            return False


def _bin(name: str) -> str:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    if not found:
        raise RuntimeError(f"PostgreSQL's {name} is not installed")
    return found[-1]


def _as_postgres(*args: str) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *args] if os.geteuid() == 0 else list(args)


@contextmanager
def password_cluster() -> Iterator[Cluster]:
    """Start a cluster that checks passwords; stop and remove it when the block ends."""
    directory = tempfile.mkdtemp(prefix="openkms-pg-")
    os.chmod(directory, 0o755)
    if os.geteuid() == 0:
        shutil.chown(directory, "postgres")
    pwfile = os.path.join(directory, "pw")
    with open(pwfile, "w") as fh:
        fh.write(SUPERUSER_PASSWORD + "\n")
    if os.geteuid() == 0:
        shutil.chown(pwfile, "postgres")
    data = os.path.join(directory, "data")
    port = free_port()
    subprocess.run(
        _as_postgres(
            _bin("initdb"), "-D", data, "-A", "scram-sha-256", "-U", "postgres", f"--pwfile={pwfile}", "-N"
        ),
        check=True,
        capture_output=True,
        timeout=120,
    )
    options = f"-p {port} -k {directory} -c listen_addresses=127.0.0.1 -c fsync=off"
    subprocess.run(
        _as_postgres(
            _bin("pg_ctl"), "-D", data, "-o", options, "-l", os.path.join(directory, "log"), "-w", "start"
        ),
        check=True,
        capture_output=True,
        timeout=120,
    )
    try:
        yield Cluster(port, directory)
    finally:
        subprocess.run(
            _as_postgres(_bin("pg_ctl"), "-D", data, "-m", "immediate", "stop"),
            capture_output=True,
            timeout=60,
        )
        shutil.rmtree(directory, ignore_errors=True)
