"""The examples of docs/cli.md run as written: every ```sh block, in order, in one bash with
`set -euo pipefail`, against a TLS server with a `openkms dev-cert` certificate (the page's
`127.0.0.1:8443` pointed at the test server's port), `openkms` on PATH."""

from __future__ import annotations

import re
import shutil
import ssl
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.cli_client import ROOT_ENV, client_env
from tests.support.server import CLI, ServerProcess, running

PAGE = Path(__file__).parents[2] / "docs" / "cli.md"


def _blocks() -> list[str]:
    return re.findall(r"^```sh\n(.*?)^```$", PAGE.read_text(), flags=re.S | re.M)


def test_the_page_has_examples_for_every_command() -> None:
    script = "\n".join(_blocks())
    assert "openkms call" in script and "openkms envelope encrypt" in script and "--output table" in script
    assert "openkms kms $KMS encrypt" in script and "--plaintext-file" in script and "--output-file -" in script
    assert "--profile" in script and "AssumeRole" in script


@pytest.fixture(scope="module")
def tls_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ServerProcess, Path]]:
    """A server over TLS with a `openkms dev-cert` certificate for 127.0.0.1; (it, the CA file)."""
    work = tmp_path_factory.mktemp("tls")
    subprocess.run([*CLI, "dev-cert", "--out", str(work / "certs"), "--name", "127.0.0.1"],
                   check=True, capture_output=True)
    cert, key = work / "certs" / "server.pem", work / "certs" / "server-key.pem"
    srv = ServerProcess(work / "data", extra_args=["--tls-cert", str(cert), "--tls-key", str(key)])
    srv.ssl_context = ssl.create_default_context(cafile=str(work / "certs" / "ca.pem"))
    with running(srv):
        yield srv, work / "certs" / "ca.pem"


def test_the_examples_run(tls_server: tuple[ServerProcess, Path], tmp_path: Path) -> None:
    srv, ca = tls_server
    (tmp_path / "certs").mkdir()
    shutil.copy(ca, tmp_path / "certs" / "ca.pem")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    wrapper = bin_dir / "openkms"
    wrapper.write_text(f'#!/bin/sh\nexec {sys.executable} -m openkms.cli "$@"\n')
    wrapper.chmod(0o755)
    home = tmp_path / "home"
    home.mkdir()
    script = "\n".join(_blocks()).replace("127.0.0.1:8443", f"127.0.0.1:{srv.port}")
    env = client_env(home, **ROOT_ENV)
    env["PATH"] = f"{bin_dir}:{env['PATH']}"
    done = subprocess.run(["bash", "-euo", "pipefail", "-c", script], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "alias/billing" in done.stdout and "report.pdf" in done.stdout
    assert '"IdentityType": "AssumedRoleUser"' in done.stdout
    assert "piped through" in done.stdout and "Verified OK" in done.stdout and "alias/reports" in done.stdout


def _call(srv: ServerProcess, home: Path, *flags: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, "call", "--endpoint", f"https://127.0.0.1:{srv.port}", *flags, "ListKeys"],
                          env=client_env(home, **ROOT_ENV), capture_output=True, text=True, timeout=60)


def test_tls_is_verified(tls_server: tuple[ServerProcess, Path], tmp_path: Path) -> None:
    """--ca trusts the dev CA; without it the certificate is refused (exit 1, nothing sent
    in the clear); --insecure skips the check on loopback only."""
    srv, ca = tls_server
    assert _call(srv, tmp_path, "--ca", str(ca)).returncode == 0
    refused = _call(srv, tmp_path)
    assert refused.returncode == 1 and "CERTIFICATE_VERIFY_FAILED" in refused.stderr, refused.stderr
    assert _call(srv, tmp_path, "--insecure").returncode == 0
    plain = subprocess.run([*CLI, "call", "--endpoint", f"http://127.0.0.1:{srv.port}", "ListKeys"],
                           env=client_env(tmp_path, **ROOT_ENV), capture_output=True, text=True, timeout=60)
    assert plain.returncode == 1 and plain.stderr.startswith("openkms: ")
