"""The local admin channel: each server process listens on a Unix socket of its own,
``DATA_DIR/admin-<pid>.sock``, for `openkms operator seal|unseal|status`.

Why a Unix socket and not an HTTP path: it is reachable only from the machine, its access is
the file system's (the socket is 0600 in the 0700 data directory, and the peer's uid is checked
with SO_PEERCRED), so no credential is needed to guard unsealing, and nothing of it is exposed
on the port the KMS API serves. One socket per process because every worker process holds its
own keyring and must be unsealed on its own; the command line visits each.

Protocol: one JSON object per line each way. Request ``{"op": "status" | "unseal" | "seal",
"material": "..."}`` (material: a passphrase or one share, for unseal); answer ``{"Ok": bool,
"Message": str, "Sealed": bool, "Provider": str, "Progress": int, "Threshold": int, "Pid": int}``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import socket
import struct
from pathlib import Path
from typing import Any

from openkms.service.roots import SHARE_TIMEOUT
from openkms.service.seal import Seal, UnsealRefused

__all__ = ["ADMIN_TIMEOUT", "path_fits", "remove", "request", "serve", "socket_path", "sockets"]

ADMIN_TIMEOUT = 30.0
_MAX_LINE = 64 * 1024


def socket_path(data_dir: Path, pid: int) -> Path:
    return data_dir / f"admin-{pid}.sock"


# sun_path holds 108 bytes with its NUL; a pid has at most 7 digits on Linux.
_MAX_SOCKET_PATH = 107


def path_fits(data_dir: Path) -> bool:
    """Whether every process's socket path in ``data_dir`` fits a Unix socket address."""
    return len(bytes(socket_path(data_dir, 4_194_304))) <= _MAX_SOCKET_PATH


def sockets(data_dir: Path) -> list[Path]:
    """Every process's admin socket in ``data_dir``."""
    return sorted(data_dir.glob("admin-*.sock"))


def _peer_uid(sock: socket.socket | None) -> int | None:
    if sock is None or not hasattr(socket, "SO_PEERCRED"):
        return None
    creds = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    return int(struct.unpack("3i", creds)[1])


async def serve(seal: Seal, path: Path, *, drop_again_after: float) -> asyncio.AbstractServer:
    """Listen on ``path`` (replacing a socket a dead process left). After a seal, the caches are
    emptied again ``drop_again_after`` seconds later: a request that was running when the seal
    came may have put material back."""
    loop = asyncio.get_running_loop()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            uid = _peer_uid(writer.get_extra_info("socket"))
            if uid is not None and uid not in (os.geteuid(), 0):
                return
            line = await asyncio.wait_for(reader.readline(), ADMIN_TIMEOUT)
            answer = await loop.run_in_executor(None, _answer, seal, line)
            if answer.get("Op") == "seal":
                loop.call_later(drop_again_after, _drop_again, seal)
            elif answer.get("Progress"):
                # Partial shares are dropped when they expire, not at the next request.
                loop.call_later(SHARE_TIMEOUT + 1.0, seal.status)
            writer.write(json.dumps(answer).encode() + b"\n")
            await writer.drain()
        except (TimeoutError, ConnectionError, ValueError):
            pass
        finally:
            writer.close()

    path.unlink(missing_ok=True)
    old_umask = os.umask(0o177)
    try:
        server = await asyncio.start_unix_server(handle, path=str(path), limit=_MAX_LINE)
    finally:
        os.umask(old_umask)
    os.chmod(path, 0o600)
    return server


def _drop_again(seal: Seal) -> None:
    if seal.sealed:
        for drop in seal.on_seal:
            drop()


def _answer(seal: Seal, line: bytes) -> dict[str, Any]:
    try:
        message = json.loads(line)
        op = message["op"]
    except (ValueError, KeyError, TypeError):
        return {"Ok": False, "Message": "malformed request", **_status(seal)}
    try:
        if op == "status":
            text = "sealed" if seal.sealed else "unsealed"
        elif op == "seal":
            seal.seal()
            text = "sealed; the keyring and unwrapped keys are dropped"
        elif op == "unseal" and isinstance(message.get("material"), str):
            status = seal.submit(message["material"])
            text = (
                "unsealed"
                if not status.sealed
                else f"share accepted: {status.progress} of {status.threshold}"
            )
        else:
            return {"Ok": False, "Message": f"unknown request {op!r}", **_status(seal)}
    except UnsealRefused as exc:
        return {"Ok": False, "Message": str(exc), **_status(seal)}
    return {"Ok": True, "Op": op, "Message": text, **_status(seal)}


def _status(seal: Seal) -> dict[str, Any]:
    return {**seal.status().as_dict(), "Pid": os.getpid()}


def request(
    path: Path, op: str, material: str | None = None, timeout: float = ADMIN_TIMEOUT
) -> dict[str, Any]:
    """Send one request to the process listening on ``path``; its answer. Raises OSError when
    nothing listens there (a socket a killed process left)."""
    body: dict[str, str] = {"op": op}
    if material is not None:
        body["material"] = material
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout)
        sock.connect(str(path))
        sock.sendall(json.dumps(body).encode() + b"\n")
        data = b""
        while not data.endswith(b"\n"):
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
    if not data:
        raise ConnectionError(f"{path}: no answer")
    answer: dict[str, Any] = json.loads(data)
    return answer


def remove(path: Path) -> None:
    with contextlib.suppress(OSError):
        path.unlink()
