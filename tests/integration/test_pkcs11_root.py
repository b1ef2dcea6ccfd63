"""A deployment whose root key lives on a PKCS#11 token (SoftHSM2, a token of this test run):
`openkms init --root-provider pkcs11` makes the root in the token and no key file, the server
serves Encrypt/Decrypt through the Tea SDK, a restart decrypts what was encrypted before, and a
wrong token label, a wrong PIN or the file provider refuse to start, saying why."""

from __future__ import annotations

import base64
import os
import secrets
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from alibabacloud_kms20160120 import models as m

from openkms.rootkey.file import create as create_root_key
from tests.support.clients import tea_client
from tests.support.server import CLI, ServerProcess, run_init
from tests.support.softhsm import Token, init_token, require_softhsm, shared_conf

pytestmark = pytest.mark.pkcs11


@pytest.fixture(scope="module")
def token(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Token]:
    require_softhsm()
    conf = shared_conf(tmp_path_factory)
    yield init_token(conf, f"e2e-{secrets.token_hex(4)}")


def _flags(token: Token, label: str | None = None) -> list[str]:
    return [
        "--root-provider",
        "pkcs11",
        "--pkcs11-module",
        token.module,
        "--pkcs11-token-label",
        label or token.label,
    ]


def _serve(data_dir: Path, env: dict[str, str], *flags: str) -> subprocess.CompletedProcess[str]:
    """`openkms serve` expected to refuse (it would otherwise fail on port 1)."""
    return subprocess.run(
        [*CLI, "serve", "--data-dir", str(data_dir), "--port", "1", *flags],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )


def test_a_token_rooted_deployment_serves_restarts_and_refuses_a_wrong_token(
    token: Token, tmp_path: Path
) -> None:
    data_dir = tmp_path / "data"
    srv = ServerProcess(data_dir, env=token.env(), extra_args=_flags(token))
    env = srv.env
    init = run_init("--data-dir", str(data_dir), *_flags(token), env=env)
    assert init.returncode == 0, init.stderr
    assert token.pin not in init.stdout + init.stderr
    assert not (data_dir / "root.key").exists()  # the root is in the token only
    assert srv.query("SELECT value FROM meta WHERE name = 'root_provider'") == [("pkcs11",)]

    plain = base64.b64encode(b"rooted in a token").decode()
    srv.start()
    try:
        client = tea_client(srv.endpoint)
        key_id = client.create_key(m.CreateKeyRequest()).body.key_metadata.key_id
        blob = client.encrypt(m.EncryptRequest(key_id=key_id, plaintext=plain)).body.ciphertext_blob
        assert client.decrypt(m.DecryptRequest(ciphertext_blob=blob)).body.plaintext == plain
    finally:
        srv.stop()
    # Restarted with two worker processes: each logs in to the token on its own.
    workers = ServerProcess(data_dir, env=token.env(), extra_args=[*_flags(token), "--workers", "2"])
    workers.start()
    try:
        for _ in range(20):  # new connections, spread over both workers
            client = tea_client(workers.endpoint)
            assert client.decrypt(m.DecryptRequest(ciphertext_blob=blob)).body.plaintext == plain
            again = client.encrypt(m.EncryptRequest(key_id=key_id, plaintext=plain)).body.ciphertext_blob
            assert client.decrypt(m.DecryptRequest(ciphertext_blob=again)).body.plaintext == plain
    finally:
        workers.stop()

    wrong_label = _serve(data_dir, env, *_flags(token, "no-such-token"))
    assert wrong_label.returncode == 1
    assert "no token labelled 'no-such-token'" in wrong_label.stderr
    wrong_pin = _serve(data_dir, {**env, "OPENKMS_PKCS11_PIN": "00000000"}, *_flags(token))
    assert wrong_pin.returncode == 1 and "PIN of the token" in wrong_pin.stderr
    assert "00000000" not in wrong_pin.stderr and token.pin not in wrong_pin.stderr
    no_pin = _serve(data_dir, {k: v for k, v in env.items() if k != "OPENKMS_PKCS11_PIN"}, *_flags(token))
    assert no_pin.returncode == 1 and "no PIN" in no_pin.stderr
    # A root key file is not this deployment's root: the refusal names the provider to use.
    create_root_key(tmp_path / "other.key")
    file_provider = _serve(
        data_dir, env, "--root-provider", "file", "--root-key-file", str(tmp_path / "other.key")
    )
    assert file_provider.returncode == 1
    assert "root of trust is the pkcs11 provider" in file_provider.stderr


def test_the_pin_may_come_from_a_file(token: Token, tmp_path: Path) -> None:
    pin_file = tmp_path / "pin"
    pin_file.write_text(token.pin + "\n")
    os.chmod(pin_file, 0o600)
    env = {
        **os.environ,
        "SOFTHSM2_CONF": str(token.conf),
        "OPENKMS_ROOT_ACCESS_KEY_ID": "",
        "OPENKMS_ROOT_ACCESS_KEY_SECRET": "",
    }
    env.pop("OPENKMS_PKCS11_PIN", None)
    data_dir = tmp_path / "data"
    init = run_init("--data-dir", str(data_dir), *_flags(token), "--pkcs11-pin-file", str(pin_file), env=env)
    assert init.returncode == 0, init.stderr
    missing = run_init(
        "--data-dir",
        str(tmp_path / "other"),
        *_flags(token),
        "--pkcs11-pin-file",
        str(tmp_path / "absent"),
        env=env,
    )
    assert missing.returncode == 1 and "pkcs11_pin_file: cannot read" in missing.stderr
