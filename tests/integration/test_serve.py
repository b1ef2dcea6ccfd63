"""`openkms serve`: TLS, the request log, and what it prints."""

from __future__ import annotations

import datetime
import ipaddress
import json
import socket
import ssl
import urllib.request
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.support.clients import RawSigner
from tests.support.server import ACCESS_KEY_SECRET, ServerProcess, run_serve, running


def _self_signed(tmp: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp / "cert.pem", tmp / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    key_path.chmod(0o600)
    return cert_path, key_path


def test_tls_serving(tmp_path: Path) -> None:
    """With --tls-cert/--tls-key the server speaks HTTPS and signed requests succeed over it."""
    cert, key = _self_signed(tmp_path)
    srv = ServerProcess(tmp_path / "data", extra_args=["--tls-cert", str(cert), "--tls-key", str(key)])
    ctx = ssl.create_default_context(cafile=str(cert))
    srv.ssl_context = ctx
    with running(srv):
        query = RawSigner(srv.endpoint).v1_query("ListKeys")
        with urllib.request.urlopen(f"https://{srv.endpoint}/?{query}", data=b"", context=ctx) as r:
            assert r.status == 200
            assert json.loads(r.read())["TotalCount"] == 0


def test_request_log_lines(fresh_server: ServerProcess) -> None:
    """One structured line per request (action, status, code, latency, request id), no secret."""
    raw = RawSigner(fresh_server.endpoint)
    ok = raw.v1("ListKeys")
    bad = raw.v1("DescribeKey", {"KeyId": "missing"})
    fresh_server.stop()
    lines = [json.loads(line) for line in fresh_server.log().splitlines() if line.startswith("{")]
    by_id = {line["request_id"]: line for line in lines if line["logger"] == "openkms.request"}
    first = by_id[ok.json()["RequestId"]]
    assert (first["action"], first["status"], first["code"]) == ("ListKeys", 200, "-")
    second = by_id[bad.json()["RequestId"]]
    assert (second["action"], second["status"], second["code"]) == ("DescribeKey", 404, "Forbidden.KeyNotFound")
    assert isinstance(second["latency_ms"], float)
    assert ACCESS_KEY_SECRET not in fresh_server.log()


def test_serving_on_only_once_bound(tmp_path: Path) -> None:
    """A port in use: exit 1 naming the address, and no "serving on" line."""
    srv = ServerProcess(tmp_path / "data")
    srv.init()
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = run_serve(*srv.store_args, "--port", str(port))
    assert done.returncode == 1
    assert f"cannot listen on 127.0.0.1:{port}" in done.stderr
    assert "serving on" not in done.stdout + done.stderr


def test_serve_reads_the_config_file(tmp_path: Path) -> None:
    """`serve --config FILE`: the file's settings apply, and a flag beats the file."""
    path = tmp_path / "openkms.toml"
    path.write_text('region = "cn-shanghai"\nmax_inflight = 3\nport = 1\n')
    srv = ServerProcess(tmp_path / "data", extra_args=["--config", str(path)])
    with running(srv):  # the flag's --port beats the file's port 1
        keys = RawSigner(srv.endpoint).v1("CreateKey").json()
        assert keys["KeyMetadata"]["Arn"].startswith("acs:kms:cn-shanghai:")
    assert f"serving on http://127.0.0.1:{srv.port}" in srv.log()


def test_serve_refuses_a_bad_config_file(tmp_path: Path) -> None:
    path = tmp_path / "openkms.toml"
    path.write_text("max_inflight = \"many\"\n")
    done = run_serve("--config", str(path), "--data-dir", str(tmp_path / "data"))
    assert done.returncode == 2
    assert "openkms.toml:1: setting max_inflight wants an integer" in done.stderr


def test_database_password_from_a_file_reaches_every_worker(tmp_path: Path) -> None:
    """`--database-password-file` over PostgreSQL with two workers: the password (characters that
    would break the URL unless percent-encoded) goes into the URL of each process, and no
    process's command line holds it."""
    from tests.support.postgres import PostgresDatabase

    password = "p@ss/w:rd 1"
    secret = tmp_path / "database-password"
    secret.write_text(password + "\n")
    secret.chmod(0o600)
    with PostgresDatabase() as db:
        srv = ServerProcess(
            tmp_path / "data", database=db.url,
            extra_args=["--database-password-file", str(secret), "--workers", "2"],
        )
        with running(srv):
            for _ in range(4):
                assert RawSigner(srv.endpoint).v1("CreateKey").status == 200
            assert srv.proc is not None
            cmdlines = Path(f"/proc/{srv.proc.pid}/cmdline").read_bytes().decode(errors="replace")
            assert password not in cmdlines
