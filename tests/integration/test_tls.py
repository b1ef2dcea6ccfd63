"""`serve` over https: TLS 1.2 at least, and the certificate and key read again on SIGHUP (one
worker and several) while a kept-alive connection goes on; a pair that cannot be loaded leaves the
served one in place and is logged."""

from __future__ import annotations

import http.client
import os
import shutil
import signal
import socket
import ssl
import subprocess
import threading
import time
import warnings
from pathlib import Path

import pytest

from openkms import tls
from tests.support.server import CLI, ServerProcess, running


def _dev_cert(out: Path) -> Path:
    subprocess.run(
        [*CLI, "dev-cert", "--out", str(out), "--name", "127.0.0.1"], check=True, capture_output=True
    )
    return out


def _client(maximum: ssl.TLSVersion | None = None) -> ssl.SSLContext:
    """A client that checks no certificate (the tests compare the certificate itself)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    if maximum is not None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            ctx.set_ciphers("DEFAULT:@SECLEVEL=0")  # lets the client offer TLS 1.1 at all
            ctx.minimum_version = maximum
            ctx.maximum_version = maximum
    return ctx


def _handshake(port: int, ctx: ssl.SSLContext) -> tuple[str | None, bytes | None]:
    """(the version agreed, the server's certificate in DER) of one new connection."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as raw, ctx.wrap_socket(raw) as conn:
        return conn.version(), conn.getpeercert(binary_form=True)


def _der(pem: Path) -> bytes:
    return ssl.PEM_cert_to_DER_cert(pem.read_text())


def test_the_context_refuses_tls_1_1_even_with_weak_ciphers_allowed(tmp_path: Path) -> None:
    """The minimum is the context's own (not the system's OpenSSL policy or the cipher list)."""
    pair = _dev_cert(tmp_path / "tls")
    ctx = tls.load(pair / "server.pem", pair / "server-key.pem")
    assert ctx.minimum_version == ssl.TLSVersion.TLSv1_2
    ctx.set_ciphers("DEFAULT:@SECLEVEL=0")
    with socket.create_server(("127.0.0.1", 0)) as listener:
        port = listener.getsockname()[1]

        def accept(n: int) -> None:
            for _ in range(n):
                conn, _ = listener.accept()
                try:
                    ctx.wrap_socket(conn, server_side=True).close()
                except (ssl.SSLError, OSError):
                    conn.close()

        server = threading.Thread(target=accept, args=(2,), daemon=True)
        server.start()
        with pytest.raises(ssl.SSLError):
            _handshake(port, _client(ssl.TLSVersion.TLSv1_1))
        assert _handshake(port, _client(ssl.TLSVersion.TLSv1_2))[0] == "TLSv1.2"
        server.join(5)


@pytest.mark.parametrize("workers", [1, 2])
def test_sighup_reloads_the_pair_without_dropping_connections(tmp_path: Path, workers: int) -> None:
    first, second = _dev_cert(tmp_path / "first"), _dev_cert(tmp_path / "second")
    live = tmp_path / "live"
    live.mkdir()
    cert, key = live / "server.pem", live / "server-key.pem"
    shutil.copy(first / "server.pem", cert)
    shutil.copy(first / "server-key.pem", key)
    srv = ServerProcess(
        tmp_path / "data",
        extra_args=["--tls-cert", str(cert), "--tls-key", str(key), "--workers", str(workers)],
    )
    srv.ssl_context = _client()
    with running(srv):
        assert srv.proc is not None
        # TLS 1.1 is refused by the server as it serves; TLS 1.2 is served.
        with pytest.raises(ssl.SSLError):
            _handshake(srv.port, _client(ssl.TLSVersion.TLSv1_1))
        assert _handshake(srv.port, _client(ssl.TLSVersion.TLSv1_2)) == (
            "TLSv1.2",
            _der(first / "server.pem"),
        )
        _wait_for_workers(srv, workers)

        kept = http.client.HTTPSConnection("127.0.0.1", srv.port, context=_client(), timeout=5)
        kept.request("GET", "/health")
        assert kept.getresponse().read() == b'{"Status":"ok"}'
        assert kept.sock is not None
        kept_socket = kept.sock

        # The pair is replaced the way an operator would (a new file renamed over the old one).
        for name in ("server.pem", "server-key.pem"):
            shutil.copy(second / name, live / f"{name}.new")
            os.replace(live / f"{name}.new", live / name)
        os.kill(srv.proc.pid, signal.SIGHUP)  # the `serve` process: with workers, it forwards
        _wait_for_certificate(srv.port, _der(second / "server.pem"))
        _wait_for_log(srv, "TLS: certificate and key reloaded", workers)

        kept.request("GET", "/health")
        assert kept.getresponse().read() == b'{"Status":"ok"}'
        assert kept.sock is kept_socket  # the same connection, the certificate it shook hands with
        assert kept_socket.getpeercert(binary_form=True) == _der(first / "server.pem")
        kept.close()

        # A pair that does not go together: the served one stays, and each worker says why.
        shutil.copy(first / "server-key.pem", key)
        os.kill(srv.proc.pid, signal.SIGHUP)
        _wait_for_log(srv, "TLS: could not load", workers)
        for _ in range(8):
            assert _handshake(srv.port, _client()) == ("TLSv1.3", _der(second / "server.pem"))
        assert srv.proc.poll() is None


def _wait_for_workers(srv: ServerProcess, workers: int) -> None:
    """Every worker process serving (each publishes its metrics file once a second)."""
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if workers == 1 or len(list((srv.data_dir / "metrics").glob("*.json"))) >= workers:
            return
        time.sleep(0.1)
    raise AssertionError(f"{workers} workers did not start: {srv.log()}")


def _wait_for_certificate(port: int, want: bytes) -> None:
    """Until eight new connections in a row (whichever worker takes them) present ``want``."""
    deadline = time.monotonic() + 10
    streak = 0
    while streak < 8:
        assert time.monotonic() < deadline, "the reloaded certificate is not served"
        streak = streak + 1 if _handshake(port, _client())[1] == want else 0


def _wait_for_log(srv: ServerProcess, line: str, times: int) -> None:
    """Until the server's log holds ``line`` ``times`` times (once per worker), and no more."""
    deadline = time.monotonic() + 10
    while srv.log().count(line) < times and time.monotonic() < deadline:
        time.sleep(0.05)
    assert srv.log().count(line) == times, srv.log()
