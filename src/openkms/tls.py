"""The server's TLS: TLS 1.2 at least, and the certificate and key read again on SIGHUP.

uvicorn wraps the listening socket with one :class:`ssl.SSLContext` for the life of a worker.
That context's SNI callback, which OpenSSL calls on every handshake (with or without a server
name), hands the handshake the context of the pair loaded last. SIGHUP loads the pair from its
files into a fresh context and swaps it in only once it loaded whole: a pair that cannot be
loaded (a file missing or unreadable, a key that is not the certificate's) leaves the served one
in place and logs a warning. A connection keeps the certificate it shook hands with, so a reload
drops none. With ``serve --workers N`` the parent process forwards SIGHUP to every worker
(cli.py), and each reloads its own.
"""

from __future__ import annotations

import logging
import signal
import ssl
from pathlib import Path
from typing import Any

__all__ = ["MINIMUM_VERSION", "ReloadingContext", "context_factory", "load"]

log = logging.getLogger("openkms.tls")

MINIMUM_VERSION = ssl.TLSVersion.TLSv1_2


def load(cert: Path, key: Path) -> ssl.SSLContext:
    """A server context over the pair (ssl.SSLError or OSError when it cannot be loaded)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = MINIMUM_VERSION
    ctx.load_cert_chain(str(cert), str(key))
    return ctx


class ReloadingContext:
    """The listening context of a worker and the pair it serves, reloadable (module docstring)."""

    def __init__(self, cert: Path, key: Path) -> None:
        self.cert = cert
        self.key = key
        self.current = load(cert, key)
        # The pair is loaded here as well: this context answers until the callback swaps.
        self.listening = load(cert, key)
        self.listening.sni_callback = self._pick

    def _pick(self, conn: Any, server_name: str | None, listening: ssl.SSLContext) -> None:
        if self.current is not listening:
            conn.context = self.current

    def reload(self) -> bool:
        """Load the pair from its files; on failure keep the served one and log why."""
        try:
            fresh = load(self.cert, self.key)
        except (ssl.SSLError, OSError, ValueError) as exc:
            log.warning(
                "TLS: could not load %s and %s (%s); serving the certificate loaded before",
                self.cert, self.key, exc,
            )  # fmt: skip
            return False
        self.current = fresh
        log.info("TLS: certificate and key reloaded from %s and %s", self.cert, self.key)
        return True


def context_factory(config: Any, default: Any) -> ssl.SSLContext:
    """uvicorn's ``ssl_context_factory``, run in each worker process: the reloading context of
    ``config``'s certificate and key, reloaded when the process gets SIGHUP."""
    reloading = ReloadingContext(Path(config.ssl_certfile), Path(config.ssl_keyfile))
    signal.signal(signal.SIGHUP, lambda signum, frame: reloading.reload())
    return reloading.listening
