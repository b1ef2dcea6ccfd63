"""ACL users on the Redis at 127.0.0.1:6379 for the tests of managed Redis secrets, over a raw
socket (RESP): made with a name of their own and deleted afterwards."""

from __future__ import annotations

import socket
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

HOST, PORT = "127.0.0.1", 6379
DSN = f"redis://{HOST}:{PORT}"


def call(*args: str, auth: tuple[str, str] | None = None) -> str:
    """One command (after AUTH when given) on a connection of its own; the first reply line."""
    with socket.create_connection((HOST, PORT), timeout=5) as sock:
        f = sock.makefile("rb")
        replies = []
        for command in ([("AUTH", *auth)] if auth else []) + [args]:
            sock.sendall(
                b"".join(
                    [f"*{len(command)}\r\n".encode()]
                    + [b"$%d\r\n%s\r\n" % (len(a.encode()), a.encode()) for a in command]
                )
            )
            replies.append(f.readline().decode().strip())
        return " | ".join(replies)


def logs_in(user: str, password: str) -> bool:
    """Whether AUTH as ``user`` with ``password`` succeeds and the user may SET its own keys."""
    reply = call("SET", f"{user}:probe", "1", auth=(user, password))
    return reply == "+OK | +OK"


@contextmanager
def acl_users() -> Iterator[list[str]]:
    """A list the test appends the users it makes to; every one (and its ``_dual``) is deleted,
    with the keys :func:`logs_in` wrote."""
    made: list[str] = []
    try:
        yield made
    finally:
        for user in made:
            call("ACL", "DELUSER", user, user + "_dual")
            call("DEL", f"{user}:probe", f"{user}_dual:probe")


def make_admin(made: list[str], password: str) -> str:
    """An admin with the least a rotation needs: ACL SETUSER, USERS and LIST."""
    name = f"rotadmin_{uuid.uuid4().hex[:8]}"
    call("ACL", "SETUSER", name, "on", ">" + password, "-@all", "+acl|setuser", "+acl|users", "+acl|list")
    made.append(name)
    return name


def make_app(made: list[str], password: str) -> str:
    """An application user allowed GET and SET on keys of its own prefix."""
    name = f"app_{uuid.uuid4().hex[:8]}"
    call(
        "ACL", "SETUSER", name, "on", ">" + password, f"~{name}:*", f"~{name}_dual:*", "-@all", "+get", "+set"
    )
    made.append(name)
    return name
