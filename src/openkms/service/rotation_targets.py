"""The servers managed secrets rotate on: what setting a password and logging in mean for each
kind of target (PostgreSQL over psycopg, Redis over its wire protocol).

Every operation is idempotent (setting the same password twice, or creating an account that
exists, leaves the same state), so a rotation step interrupted anywhere can be run again. Any
failure to reach or change the target raises :class:`TargetError` with a message that names
neither password; the rotation keeps it and retries with backoff.
"""

from __future__ import annotations

import re
import socket
from typing import Any, Protocol
from urllib.parse import urlsplit

import psycopg
import pymysql  # type: ignore[import-untyped]  # PyMySQL ships no type information
from psycopg import sql

from openkms.domain.rotation import MYSQL, POSTGRESQL, REDIS_TARGET, Account

__all__ = [
    "CONNECT_TIMEOUT",
    "Driver",
    "MySQLDriver",
    "PostgresDriver",
    "RedisDriver",
    "TargetError",
    "driver_for",
]

CONNECT_TIMEOUT = 5


class TargetError(Exception):
    """The target could not be reached, refused the change, or refused the login."""


class Driver(Protocol):
    def set_password(self, admin: Account, account: str, password: str, *, like: str) -> None:
        """Give ``account`` the password ``password``, creating it with the privileges of
        ``like`` when it does not exist (DoubleUsers' second account)."""

    def verify(self, account: str, password: str) -> None:
        """Log in as ``account``; TargetError if refused."""


def driver_for(target_type: str, dsn: str) -> Driver:
    if target_type == POSTGRESQL:
        return _Redacting(PostgresDriver(dsn))
    if target_type == REDIS_TARGET:
        return _Redacting(RedisDriver(dsn))
    if target_type == MYSQL:
        return _Redacting(MySQLDriver(dsn))
    raise TargetError(f"no driver for targets of type {target_type}")


class _Redacting:
    """A driver whose errors never carry the passwords it was given: a server's error may quote
    the statement or rule it refused, and the error is kept, logged and shown."""

    def __init__(self, driver: Driver) -> None:
        self.driver = driver

    def set_password(self, admin: Account, account: str, password: str, *, like: str) -> None:
        try:
            self.driver.set_password(admin, account, password, like=like)
        except TargetError as exc:
            raise TargetError(_without(str(exc), password, admin.password)) from None

    def verify(self, account: str, password: str) -> None:
        try:
            self.driver.verify(account, password)
        except TargetError as exc:
            raise TargetError(_without(str(exc), password)) from None


def _without(text: str, *secrets: str) -> str:
    for secret in secrets:
        if secret:
            text = text.replace(secret, "[redacted]")
    return text


class PostgresDriver:
    """ALTER ROLE … PASSWORD in place; the second account of DoubleUsers is CREATE ROLE … IN ROLE
    the first, so it holds the first's privileges through membership."""

    def __init__(self, dsn: str) -> None:
        self.dsn = dsn

    def _connect(self, user: str, password: str) -> psycopg.Connection[tuple[object, ...]]:
        try:
            return psycopg.connect(
                self.dsn, user=user, password=password, connect_timeout=CONNECT_TIMEOUT, autocommit=True
            )
        except psycopg.Error as exc:
            raise TargetError(_pg_reason(exc)) from None

    def set_password(self, admin: Account, account: str, password: str, *, like: str) -> None:
        with self._connect(admin.name, admin.password) as conn:
            try:
                exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (account,)).fetchone()
                if exists:
                    stmt = sql.SQL("ALTER ROLE {} WITH LOGIN PASSWORD {}")
                    conn.execute(stmt.format(sql.Identifier(account), sql.Literal(password)))
                else:
                    stmt = sql.SQL("CREATE ROLE {} WITH LOGIN PASSWORD {} IN ROLE {}")
                    conn.execute(
                        stmt.format(sql.Identifier(account), sql.Literal(password), sql.Identifier(like))
                    )
            except psycopg.Error as exc:
                raise TargetError(_pg_reason(exc)) from None

    def verify(self, account: str, password: str) -> None:
        with self._connect(account, password) as conn:
            try:
                conn.execute("SELECT 1").fetchone()
            except psycopg.Error as exc:
                raise TargetError(_pg_reason(exc)) from None


def _pg_reason(exc: psycopg.Error) -> str:
    """The server's message (psycopg's text may quote the statement, which holds a password)."""
    diag = getattr(exc, "diag", None)
    primary = getattr(diag, "message_primary", None) if diag is not None else None
    if primary:
        return f"PostgreSQL: {primary}"
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return (
        f"PostgreSQL: {first}"[:300]
        if "PASSWORD" not in first.upper()
        else "PostgreSQL: the statement failed"
    )


class MySQLDriver:
    """MySQL and MariaDB: ALTER USER … IDENTIFIED BY for every host the account has; the second
    account of DoubleUsers is CREATE USER on the same hosts with the first's grants (SHOW GRANTS,
    renamed)."""

    def __init__(self, dsn: str) -> None:
        parts = urlsplit(dsn)
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port or 3306
        self.database = parts.path.lstrip("/") or None

    def _connect(self, user: str, password: str) -> Any:
        try:
            return pymysql.connect(
                host=self.host,
                port=self.port,
                user=user,
                password=password,
                database=self.database,
                connect_timeout=CONNECT_TIMEOUT,
                autocommit=True,
            )
        except pymysql.MySQLError as exc:
            raise TargetError(_mysql_reason(exc)) from None

    def set_password(self, admin: Account, account: str, password: str, *, like: str) -> None:
        conn = self._connect(admin.name, admin.password)
        try:
            with conn.cursor() as cur:
                hosts = _hosts_of(cur, account)
                if hosts:
                    for host in hosts:
                        cur.execute("ALTER USER %s@%s IDENTIFIED BY %s", (account, host, password))
                    return
                for host in _hosts_of(cur, like):
                    cur.execute("SHOW GRANTS FOR %s@%s", (like, host))
                    grants = [str(row[0]) for row in cur.fetchall()]
                    cur.execute("CREATE USER %s@%s IDENTIFIED BY %s", (account, host, password))
                    for grant in grants:
                        # USAGE grants no privilege, and granting it on *.* needs the global
                        # GRANT OPTION, which the admin need not have.
                        if not grant.upper().startswith("GRANT USAGE ON *.* "):
                            cur.execute(_renamed_grant(grant, like, account))
        except pymysql.MySQLError as exc:
            raise TargetError(_mysql_reason(exc)) from None
        finally:
            conn.close()

    def verify(self, account: str, password: str) -> None:
        conn = self._connect(account, password)
        try:
            with conn.cursor() as cur:
                cur.execute("SELECT 1")
        except pymysql.MySQLError as exc:
            raise TargetError(_mysql_reason(exc)) from None
        finally:
            conn.close()


def _hosts_of(cur: Any, user: str) -> list[str]:
    cur.execute("SELECT Host FROM mysql.user WHERE User = %s ORDER BY Host", (user,))
    return [str(row[0]) for row in cur.fetchall()]


# SHOW GRANTS names the grantee as `user`@`host` (MariaDB) or 'user'@'host' (MySQL), and may
# carry the account's password hash, which the copy must not take.
_IDENTIFIED = re.compile(r"\s+IDENTIFIED\s+(BY|VIA|WITH)\b.*$", re.IGNORECASE | re.DOTALL)


def _renamed_grant(grant: str, old: str, new: str) -> str:
    """A SHOW GRANTS line of ``old`` as the same grant to ``new`` (names are [A-Za-z0-9_] only)."""
    grant = _IDENTIFIED.sub("", grant)
    for quote in ("`", "'"):
        grant = grant.replace(f" TO {quote}{old}{quote}@", f" TO {quote}{new}{quote}@")
    return grant


def _mysql_reason(exc: BaseException) -> str:
    """The server's error number and message (they never quote a statement's values)."""
    args: tuple[object, ...] = tuple(getattr(exc, "args", ()))
    if len(args) >= 2:
        # A syntax error quotes the statement from "near": cut it off.
        return f"MySQL: {args[0]} {str(args[1]).split(' near ')[0][:200]}"
    return f"MySQL: {type(exc).__name__}"


class RedisDriver:
    """ACL SETUSER … resetpass >password in place; the second account of DoubleUsers gets the
    first's ACL rules (from ACL LIST) with its own password."""

    def __init__(self, dsn: str) -> None:
        parts = urlsplit(dsn)
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port or 6379

    def _session(self, user: str, password: str) -> _Resp:
        try:
            conn = _Resp(socket.create_connection((self.host, self.port), timeout=CONNECT_TIMEOUT))
        except OSError as exc:
            raise TargetError(f"Redis: cannot connect: {exc.strerror or type(exc).__name__}") from None
        try:
            conn.call("AUTH", user, password)
        except TargetError:
            conn.close()
            raise
        return conn

    def set_password(self, admin: Account, account: str, password: str, *, like: str) -> None:
        conn = self._session(admin.name, admin.password)
        try:
            users = conn.call("ACL", "USERS")
            assert isinstance(users, list)
            if account in users:
                conn.call("ACL", "SETUSER", account, "on", "resetpass", ">" + password)
                return
            rules = _rules_of(conn.call("ACL", "LIST"), like)
            conn.call("ACL", "SETUSER", account, "reset", *rules, "on", ">" + password)
        finally:
            conn.close()

    def verify(self, account: str, password: str) -> None:
        # AUTH succeeding is the login; the account may be allowed no command at all.
        self._session(account, password).close()


def _rules_of(acl_list: object, user: str) -> list[str]:
    """``user``'s ACL rules from ACL LIST, without its passwords and on/off state."""
    assert isinstance(acl_list, list)
    for line in acl_list:
        words = str(line).split()
        if len(words) >= 2 and words[0] == "user" and words[1] == user:
            return [
                w
                for w in words[2:]
                if w not in ("on", "off", "nopass", "resetpass") and w[:1] not in ("#", ">", "<", "!")
            ]
    raise TargetError(f"Redis: no ACL user {user} to copy the rules of")


class _Resp:
    """A minimal RESP2 client: commands as arrays of bulk strings, replies parsed."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buf = sock.makefile("rb")

    def close(self) -> None:
        self.buf.close()
        self.sock.close()

    def call(self, *args: str) -> object:
        out = [f"*{len(args)}\r\n".encode()]
        for a in args:
            data = a.encode()
            out.append(b"$%d\r\n%s\r\n" % (len(data), data))
        try:
            self.sock.sendall(b"".join(out))
            return self._reply()
        except OSError as exc:
            raise TargetError(f"Redis: connection lost: {exc.strerror or type(exc).__name__}") from None

    def _line(self) -> bytes:
        line = self.buf.readline()
        if not line.endswith(b"\r\n"):
            raise TargetError("Redis: connection closed")
        return line[:-2]

    def _reply(self) -> object:
        line = self._line()
        kind, rest = line[:1], line[1:]
        if kind == b"+":
            return rest.decode()
        if kind == b"-":
            # An error line names the command's failure, never its arguments.
            raise TargetError(f"Redis: {rest.decode(errors='replace')[:200]}")
        if kind == b":":
            return int(rest)
        if kind == b"$":
            n = int(rest)
            if n < 0:
                return None
            data = self.buf.read(n + 2)
            return data[:-2].decode(errors="replace")
        if kind == b"*":
            n = int(rest)
            return [self._reply() for _ in range(max(n, 0))]
        raise TargetError("Redis: unexpected reply")
