"""The kms root of trust (docs/root-of-trust.md, "kms"): the root key kept as a CiphertextBlob
of an upstream KMS, here a second openkms started in the test, reached through the Tea SDK.

A node created with `openkms init --root-provider kms` serves both official SDKs without an
unseal, and again after a restart; with the upstream key disabled it starts sealed (503, /health
sealed) and unseals by itself once the key is enabled again; a blob or context of another
deployment is refused; the upstream's credentials appear neither in the node's logs nor in
`openkms config check`."""

from __future__ import annotations

import json
import sqlite3
import ssl
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from alibabacloud_kms20160120 import models as tea_models
from alibabacloud_kms20160120.client import Client as TeaClient
from alibabacloud_tea_openapi import models as open_api_models

from tests.support.calls import SDK, ApiError
from tests.support.clients import REGION
from tests.support.server import CLI, ServerProcess, running


@dataclass
class Upstream:
    srv: ServerProcess
    ak: str
    secret: str
    key_id: str

    def sdk(self) -> SDK:
        return SDK("tea", self.srv.endpoint, ak=self.ak, secret=self.secret)

    def env(self, **extra: str) -> dict[str, str]:
        """The settings a node of this upstream gets from its environment."""
        return {
            "OPENKMS_KMS_ENDPOINT": f"http://{self.srv.endpoint}",
            "OPENKMS_KMS_KEY_ID": "alias/openkms-root",
            "OPENKMS_KMS_ACCESS_KEY_ID": self.ak,
            "OPENKMS_KMS_ACCESS_KEY_SECRET": self.secret,
            "OPENKMS_KMS_UNSEAL_RETRY_MAX": "1",
            **extra,
        }


@pytest.fixture
def upstream(tmp_path: Path) -> Iterator[Upstream]:
    srv = ServerProcess(tmp_path / "upstream")
    with running(srv):
        ak, secret = srv.new_access_key()
        sdk = SDK("tea", srv.endpoint, ak=ak, secret=secret)
        key_id = sdk.call("CreateKey", Description="openkms root")["KeyMetadata"]["KeyId"]
        sdk.call("CreateAlias", AliasName="alias/openkms-root", KeyId=key_id)
        yield Upstream(srv, ak, secret, key_id)


def _node(tmp_path: Path, up: Upstream, name: str = "node") -> ServerProcess:
    """A node initialised with the kms provider over ``up`` (not started)."""
    srv = ServerProcess(tmp_path / name, env=up.env())
    made = _run(srv, "init", *srv.store_args, "--root-provider", "kms")
    assert made.returncode == 0, made.stderr
    assert "root of trust kms" in made.stdout
    return srv


def _run(srv: ServerProcess, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], env=srv.env, capture_output=True, text=True, timeout=60)


def _meta(srv: ServerProcess) -> dict[str, str]:
    return {name: value for name, value in srv.query("SELECT name, value FROM meta")}


def _health(srv: ServerProcess) -> str:
    with urllib.request.urlopen(f"{srv.url}health", timeout=5) as r:
        return str(json.loads(r.read())["Status"])


def _serves(srv: ServerProcess) -> None:
    for name in ("tea", "old"):
        sdk = SDK(name, srv.endpoint)
        key_id = sdk.call("CreateKey")["KeyMetadata"]["KeyId"]
        blob = sdk.call("Encrypt", KeyId=key_id, Plaintext="kept")["CiphertextBlob"]
        assert sdk.call("Decrypt", CiphertextBlob=blob)["Plaintext"] == "kept"


def _refused_sealed(srv: ServerProcess) -> None:
    for name in ("tea", "old"):
        with pytest.raises(ApiError) as caught:
            SDK(name, srv.endpoint).call("CreateKey")
        assert (caught.value.status, caught.value.code) == (503, "ServiceUnavailableTemporary"), name
        assert "sealed" in caught.value.message


def _wait_health(srv: ServerProcess, want: str, within: float) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if _health(srv) == want:
            return
        time.sleep(0.2)
    raise AssertionError(f"/health did not say {want} within {within} s: {srv.log()}")


def test_kms_node_serves_restarts_and_unseals_itself(tmp_path: Path, upstream: Upstream) -> None:
    node = _node(tmp_path, upstream)
    records = _meta(node)
    assert records["root_provider"] == "kms"
    assert records["kms_root_key_id"] == "alias/openkms-root"
    assert not (node.data_dir / "root.key").exists()
    # Only the upstream's blob is recorded: the upstream decrypts it under this context alone.
    context = {"openkms": "root", "deployment": records["kms_deployment"]}
    plain = upstream.sdk().call("Decrypt", CiphertextBlob=records["kms_root_blob"], EncryptionContext=context)
    assert plain["KeyId"] == upstream.key_id
    with pytest.raises(ApiError):
        upstream.sdk().call("Decrypt", CiphertextBlob=records["kms_root_blob"])

    with running(node):
        assert _health(node) == "ok"
        _serves(node)
        node.restart()
        assert _health(node) == "ok"
        _serves(node)
        node.stop()

        upstream.sdk().call("DisableKey", KeyId=upstream.key_id)
        node.start()
        assert _health(node) == "sealed"
        _refused_sealed(node)
        status = _run(node, "operator", "unseal", "--data-dir", str(node.data_dir))
        assert status.returncode == 1 and "Rejected.Disabled" in status.stdout, status.stdout + status.stderr
        upstream.sdk().call("EnableKey", KeyId=upstream.key_id)
        # The retry waits at most OPENKMS_KMS_UNSEAL_RETRY_MAX = 1 s between tries.
        _wait_health(node, "ok", within=10)
        _serves(node)
        assert "starting sealed" in node.log_path.read_text(errors="replace")

    # The upstream's credentials are in neither log.
    for text in (node.log_path.read_text(errors="replace"), status.stdout + status.stderr):
        assert upstream.secret not in text


def test_operator_unseal_asks_the_upstream_at_once(tmp_path: Path, upstream: Upstream) -> None:
    node = _node(tmp_path, upstream)
    # A long retry bound: what unseals below within the test is the operator's unseal.
    node.env["OPENKMS_KMS_UNSEAL_RETRY_MAX"] = "600"
    upstream.sdk().call("DisableKey", KeyId=upstream.key_id)
    with running(node):
        assert _health(node) == "sealed"
        time.sleep(3.2)  # past the tries at 1 s and 3 s: the next is 7 s after the start
        upstream.sdk().call("EnableKey", KeyId=upstream.key_id)
        assert _health(node) == "sealed"
        unsealed = _run(node, "operator", "unseal", "--data-dir", str(node.data_dir))
        assert unsealed.returncode == 0, unsealed.stdout + unsealed.stderr
        assert _health(node) == "ok"
        _serves(node)
    log = node.log_path.read_text(errors="replace")
    assert log.count("still sealed") == 2, log  # the tries at 1 s and 3 s, each logged once
    assert upstream.secret not in log


def test_a_blob_or_context_of_another_deployment_is_refused(tmp_path: Path, upstream: Upstream) -> None:
    one, other = _node(tmp_path, upstream, "one"), _node(tmp_path, upstream, "other")
    theirs = _meta(other)

    def serve(node: ServerProcess) -> subprocess.CompletedProcess[str]:
        return _run(node, "serve", *node.store_args, "--port", "1")

    with sqlite3.connect(one.data_dir / "openkms.db") as db:
        db.execute("UPDATE meta SET value = ? WHERE name = 'kms_root_blob'", (theirs["kms_root_blob"],))
    # The upstream refuses the other deployment's blob under this deployment's context.
    refused = serve(one)
    assert refused.returncode == 1
    assert "InvalidCiphertext" in refused.stderr or "InvalidParameter" in refused.stderr, refused.stderr

    with sqlite3.connect(one.data_dir / "openkms.db") as db:
        db.execute("UPDATE meta SET value = ? WHERE name = 'kms_deployment'", (theirs["kms_deployment"],))
    # Blob and context both copied: the upstream decrypts the other root, which is not this one's.
    refused = serve(one)
    assert refused.returncode == 1 and "fingerprint mismatch" in refused.stderr, refused.stderr
    for text in (refused.stdout, refused.stderr):
        assert upstream.secret not in text


def test_init_without_the_upstream_or_its_settings_records_nothing(
    tmp_path: Path, upstream: Upstream
) -> None:
    missing = ServerProcess(tmp_path / "missing", env={**upstream.env(), "OPENKMS_KMS_KEY_ID": ""})
    made = _run(missing, "init", *missing.store_args, "--root-provider", "kms")
    assert made.returncode == 1 and "kms_key_id" in made.stderr

    wrong = ServerProcess(
        tmp_path / "wrong", env=upstream.env(OPENKMS_KMS_ACCESS_KEY_SECRET="not-the-secret-at-all")
    )
    made = _run(wrong, "init", *wrong.store_args, "--root-provider", "kms")
    assert made.returncode == 1 and "SignatureDoesNotMatch" in made.stderr, made.stderr
    assert "root_fingerprint" not in _meta(wrong) and "kms_root_blob" not in _meta(wrong)
    # Nothing half-written: the same store takes an init with the right secret.
    right = ServerProcess(tmp_path / "wrong", env=upstream.env())
    assert _run(right, "init", *right.store_args, "--root-provider", "kms").returncode == 0


def test_config_check_masks_the_upstream_secret(tmp_path: Path, upstream: Upstream) -> None:
    secret_file = tmp_path / "kms-secret"
    secret_file.write_text(upstream.secret + "\n")
    config_file = tmp_path / "openkms.toml"
    config_file.write_text(
        f'kms_endpoint = "http://{upstream.srv.endpoint}"\n'
        f'kms_access_key_id = "{upstream.ak}"\n'
        f'kms_access_key_secret_file = "{secret_file}"\n'
    )
    env = {**upstream.env(), "OPENKMS_KMS_SECURITY_TOKEN": "canary-security-token"}
    checked = subprocess.run(
        [*CLI, "config", "check", str(config_file)],
        env={**ServerProcess(tmp_path / "x").env, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert checked.returncode == 0, checked.stderr
    assert upstream.secret not in checked.stdout and "canary-security-token" not in checked.stdout
    assert 'kms_access_key_secret = "***"' in checked.stdout
    assert 'kms_security_token = "***"' in checked.stdout
    # The secret in the file is the one a node uses: it inits and serves with it alone.
    node = ServerProcess(
        tmp_path / "node",
        env={
            **upstream.env(OPENKMS_KMS_ACCESS_KEY_SECRET=""),
            "OPENKMS_KMS_ACCESS_KEY_SECRET_FILE": str(secret_file),
        },
    )
    made = _run(node, "init", *node.store_args, "--root-provider", "kms")
    assert made.returncode == 0, made.stderr
    with running(node):
        assert _health(node) == "ok"
        _serves(node)
    assert upstream.secret not in node.log_path.read_text(errors="replace")


def test_an_https_upstream_with_a_private_ca(tmp_path: Path) -> None:
    out = tmp_path / "tls"
    made = subprocess.run(
        [*CLI, "dev-cert", "--out", str(out), "--name", "127.0.0.1"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert made.returncode == 0, made.stderr
    srv = ServerProcess(
        tmp_path / "upstream",
        extra_args=["--tls-cert", str(out / "server.pem"), "--tls-key", str(out / "server-key.pem")],
    )
    srv.ssl_context = ssl.create_default_context(cafile=str(out / "ca.pem"))
    with running(srv):
        ak, secret = srv.new_access_key()
        tea = TeaClient(
            open_api_models.Config(
                access_key_id=ak, access_key_secret=secret, region_id=REGION,
                endpoint=srv.endpoint, protocol="https", ca=str(out / "ca.pem"),
            )
        )  # fmt: skip
        key_id = tea.create_key(tea_models.CreateKeyRequest()).body.key_metadata.key_id
        tea.create_alias(tea_models.CreateAliasRequest(alias_name="alias/openkms-root", key_id=key_id))
        env = {**Upstream(srv, ak, secret, key_id).env(), "OPENKMS_KMS_ENDPOINT": f"https://{srv.endpoint}"}
        untrusted = ServerProcess(tmp_path / "untrusted", env=env)
        refused = _run(untrusted, "init", *untrusted.store_args, "--root-provider", "kms")
        assert refused.returncode == 1 and "cannot be reached" in refused.stderr, refused.stderr

        node = ServerProcess(tmp_path / "node", env={**env, "OPENKMS_KMS_CA_FILE": str(out / "ca.pem")})
        made = _run(node, "init", *node.store_args, "--root-provider", "kms")
        assert made.returncode == 0, made.stderr
        with running(node):
            assert _health(node) == "ok"
            _serves(node)
