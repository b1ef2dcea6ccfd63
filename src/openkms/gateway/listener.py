"""The instance gateway's listener inside each server process.

The gateway has a port and a certificate of its own, so it is not one more socket of the main
uvicorn server (whose sockets share one TLS context). Each worker process opens the gateway port
itself when its app starts (``SO_REUSEPORT``: the kernel spreads connections over the workers, as
it does for the main port's shared socket) and serves it with the same guarded HTTP protocol
(http.py) and its own TLS context: TLS 1.2 at least, the pair read again on SIGHUP (tls.py).
"""

from __future__ import annotations

import asyncio
import signal
import socket
import ssl
from pathlib import Path
from typing import Any

import uvicorn
from uvicorn.server import ServerState

from openkms import tls
from openkms.http import GuardedProtocol


def bind(host: str, port: int, *, listen: bool) -> socket.socket:
    """The gateway's socket on (host, port), shared between the processes of one server."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    try:
        sock.bind((host, port))
        if listen:
            sock.listen(2048)
    except OSError:
        sock.close()
        raise
    sock.setblocking(False)
    return sock


class Listener:
    """The gateway port of one process, served until :meth:`close`."""

    def __init__(
        self, server: asyncio.AbstractServer, state: ServerState, reloading: tls.ReloadingContext
    ) -> None:
        self.server = server
        self.state = state
        self.tls = reloading

    def close(self) -> None:
        """Stop accepting, and end every connection once its request in progress is answered."""
        self.server.close()
        for connection in list(self.state.connections):
            connection.shutdown()


async def start(app: Any, address: tuple[str, int], pair: tuple[Path, Path], keep_alive: float) -> Listener:
    """Serve ``app`` on ``address`` over TLS with ``pair`` (certificate, key)."""
    config = uvicorn.Config(
        app,
        http=GuardedProtocol,
        lifespan="off",
        ws="none",
        access_log=False,
        proxy_headers=False,
        server_header=False,
        date_header=False,
        log_config=None,
        timeout_keep_alive=keep_alive,  # type: ignore[arg-type]
    )
    config.load()
    state = ServerState()
    reloading = tls.ReloadingContext(*pair)

    def protocol() -> asyncio.Protocol:
        return GuardedProtocol(config=config, server_state=state, app_state={})

    loop = asyncio.get_running_loop()
    sock = bind(*address, listen=True)
    server = await loop.create_server(protocol, sock=sock, ssl=reloading.listening, backlog=2048)
    # SIGHUP reloads this pair too, beside whatever the process already does on it.
    before = signal.getsignal(signal.SIGHUP)

    def on_hup(signum: int, frame: Any) -> None:
        reloading.reload()
        if callable(before):
            before(signum, frame)

    signal.signal(signal.SIGHUP, on_hup)
    return Listener(server, state, reloading)


def check_pair(pair: tuple[Path, Path]) -> ssl.SSLContext:
    """Load the pair once (ssl.SSLError / OSError / ValueError when it cannot be)."""
    return tls.load(*pair)
