"""The examples of docs/cli.md run as written: every ```sh block, in order, in one bash with
`set -euo pipefail`, against a TLS server with a `openkms dev-cert` certificate (the page's
`127.0.0.1:8443` pointed at the test server's port), `openkms` on PATH."""

from __future__ import annotations

import re
import ssl
import subprocess
import sys
from pathlib import Path

from tests.support.cli_client import ROOT_ENV, client_env
from tests.support.server import CLI, ServerProcess, running

PAGE = Path(__file__).parents[2] / "docs" / "cli.md"


def _blocks() -> list[str]:
    return re.findall(r"^```sh\n(.*?)^```$", PAGE.read_text(), flags=re.S | re.M)


def test_the_page_has_examples_for_both_commands() -> None:
    script = "\n".join(_blocks())
    assert "openkms call" in script and "openkms envelope encrypt" in script and "--output table" in script
    assert "--profile" in script and "AssumeRole" in script


def test_the_examples_run(tmp_path: Path) -> None:
    subprocess.run([*CLI, "dev-cert", "--out", str(tmp_path / "certs"), "--name", "127.0.0.1"],
                   check=True, capture_output=True)
    cert, key = tmp_path / "certs" / "server.pem", tmp_path / "certs" / "server-key.pem"
    srv = ServerProcess(tmp_path / "data", extra_args=["--tls-cert", str(cert), "--tls-key", str(key)])
    srv.ssl_context = ssl.create_default_context(cafile=str(tmp_path / "certs" / "ca.pem"))
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    wrapper = bin_dir / "openkms"
    wrapper.write_text(f'#!/bin/sh\nexec {sys.executable} -m openkms.cli "$@"\n')
    wrapper.chmod(0o755)
    home = tmp_path / "home"
    home.mkdir()
    with running(srv):
        script = "\n".join(_blocks()).replace("127.0.0.1:8443", f"127.0.0.1:{srv.port}")
        env = client_env(home, **ROOT_ENV)
        env["PATH"] = f"{bin_dir}:{env['PATH']}"
        done = subprocess.run(["bash", "-euo", "pipefail", "-c", script], cwd=tmp_path, env=env,
                              capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "alias/billing" in done.stdout and "report.pdf" in done.stdout
    assert '"IdentityType": "AssumedRoleUser"' in done.stdout
