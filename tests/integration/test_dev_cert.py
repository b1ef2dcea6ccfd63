"""`openkms dev-cert`: a local CA and a server certificate; `serve` presents it, and both official
KMS SDKs trust it over https when told the CA (Tea: `Config(ca=...)`; old SDK: `AcsClient(verify=...)`),
and refuse the server without it."""

from __future__ import annotations

import json
import ssl
import stat
import subprocess
from pathlib import Path

import pytest
from alibabacloud_kms20160120 import models as m
from alibabacloud_kms20160120.client import Client as TeaClient
from alibabacloud_tea_openapi import models as open_api_models
from aliyunsdkcore.client import AcsClient
from aliyunsdkkms.request.v20160120.ListKeysRequest import ListKeysRequest

from tests.support.clients import REGION
from tests.support.server import ACCESS_KEY_ID, ACCESS_KEY_SECRET, CLI, ServerProcess, running


def _dev_cert(out: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CLI, "dev-cert", "--out", str(out), "--name", "127.0.0.1", "--name", "localhost"],
        capture_output=True,
        text=True,
    )


def _tea(endpoint: str, ca: str | None) -> TeaClient:
    return TeaClient(
        open_api_models.Config(
            access_key_id=ACCESS_KEY_ID, access_key_secret=ACCESS_KEY_SECRET, region_id=REGION,
            endpoint=endpoint, protocol="https", ca=ca,
        )
    )  # fmt: skip


def test_dev_cert_files_and_both_sdks_over_https(tmp_path: Path) -> None:
    out = tmp_path / "tls"
    made = _dev_cert(out)
    assert made.returncode == 0, made.stderr
    modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in out.iterdir()}
    assert modes == {"ca.pem": 0o644, "ca-key.pem": 0o600, "server.pem": 0o644, "server-key.pem": 0o600}
    again = _dev_cert(out)
    assert again.returncode == 1 and "exists" in again.stderr  # never overwritten

    ca = str(out / "ca.pem")
    srv = ServerProcess(
        tmp_path / "data", extra_args=["--tls-cert", str(out / "server.pem"), "--tls-key", str(out / "server-key.pem")]
    )
    srv.ssl_context = ssl.create_default_context(cafile=ca)
    with running(srv):
        # First untrusted, by another name (the SDK keeps verified connections in a pool).
        untrusted = srv.endpoint.replace("127.0.0.1", "localhost")
        with pytest.raises(Exception, match=r"(?i)certificate"):
            _tea(untrusted, None).list_keys(m.ListKeysRequest())
        assert _tea(srv.endpoint, ca).list_keys(m.ListKeysRequest()).body.total_count == 0

        old = AcsClient(ACCESS_KEY_ID, ACCESS_KEY_SECRET, REGION, verify=ca)
        request = ListKeysRequest()
        request.set_endpoint(srv.endpoint)
        request.set_protocol_type("https")
        assert json.loads(old.do_action_with_exception(request))["TotalCount"] == 0
