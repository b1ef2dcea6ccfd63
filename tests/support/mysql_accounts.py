"""Accounts on the MariaDB (or MySQL) at 127.0.0.1:3306 for the tests of managed MySQL secrets.
Accounts are made as the server's root over its Unix socket (the ``mariadb`` client, as the OS
root); the tests then log in over TCP with passwords, which MariaDB always checks. Every account
made (and its ``_dual``) is dropped afterwards."""

from __future__ import annotations

import shutil
import subprocess
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import pymysql

HOST, PORT = "127.0.0.1", 3306
DSN = f"mysql://{HOST}:{PORT}"
DATABASE = "openkms_rotation_test"


def root(sql: str) -> str:
    """Run statements as the server's root over the socket; their output."""
    client = shutil.which("mariadb") or shutil.which("mysql") or "mysql"
    done = subprocess.run(
        [client, "-uroot", "-N", "-e", sql], check=True, capture_output=True, text=True, timeout=60
    )
    return done.stdout


def reads_data(user: str, password: str) -> bool:
    """Whether ``user`` logs in over TCP and reads the test table."""
    try:
        conn = pymysql.connect(host=HOST, port=PORT, user=user, password=password, connect_timeout=5)
    except pymysql.MySQLError:
        return False
    try:
        with conn.cursor() as cur:
            cur.execute(f"SELECT v FROM {DATABASE}.t")
            return cur.fetchone() == (42,)
    except pymysql.MySQLError:
        return False
    finally:
        conn.close()


def logs_in(user: str, password: str) -> bool:
    try:
        pymysql.connect(host=HOST, port=PORT, user=user, password=password, connect_timeout=5).close()
    except pymysql.MySQLError:
        return False
    return True


@contextmanager
def accounts() -> Iterator[list[str]]:
    """The test database, and a list the test appends the accounts it makes to; the accounts are
    dropped after."""
    # Shared by parallel test workers: made once, its one row never deleted (a second worker's
    # insert, racing the first, leaves another 42).
    root(f"CREATE DATABASE IF NOT EXISTS {DATABASE}; CREATE TABLE IF NOT EXISTS {DATABASE}.t (v int);"
         f"INSERT INTO {DATABASE}.t SELECT 42 FROM DUAL WHERE NOT EXISTS (SELECT 1 FROM {DATABASE}.t)")  # fmt: skip
    made: list[str] = []
    try:
        yield made
    finally:
        for user in made:
            root(f"DROP USER IF EXISTS '{user}'@'%'; DROP USER IF EXISTS '{user}_dual'@'%'")


def make_admin(made: list[str], password: str) -> str:
    """An admin with the least a rotation needs: CREATE USER, reading the grant tables, and the
    application's privileges WITH GRANT OPTION (to give them to the second account)."""
    name = f"rotadmin_{uuid.uuid4().hex[:8]}"
    root(
        f"CREATE USER '{name}'@'%' IDENTIFIED BY '{password}';"
        f"GRANT CREATE USER ON *.* TO '{name}'@'%';"
        f"GRANT SELECT ON mysql.* TO '{name}'@'%';"
        f"GRANT SELECT ON {DATABASE}.* TO '{name}'@'%' WITH GRANT OPTION"
    )
    made.append(name)
    return name


def make_app(made: list[str], password: str) -> str:
    """An application account that may read the test database."""
    name = f"app_{uuid.uuid4().hex[:8]}"
    root(f"CREATE USER '{name}'@'%' IDENTIFIED BY '{password}'; GRANT SELECT ON {DATABASE}.* TO '{name}'@'%'")
    made.append(name)
    return name
