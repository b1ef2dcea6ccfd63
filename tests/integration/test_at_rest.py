"""No plaintext at rest: a run over the API on a server whose every source of
secret bytes is recorded (tests/support/recording_server.py), then a scan of the data directory
(databases, their WAL and shared-memory files) and the server log finds none of the recorded
values: not raw, not hex, not Base64.

The scan runs three times: while the server runs (the WAL holds the newest pages), after a
kill -9 (the WAL is left behind unreplayed), and after a clean restart and stop (checkpointed).
The root key may appear only in its own key file; finding it there is the scan's positive control.
"""

from __future__ import annotations

import base64
import binascii
from collections import Counter
from pathlib import Path

from openkms.api import KMS_ACTIONS as REGISTRY
from tests.support.calls import SDK
from tests.support.export import wrap_params
from tests.support.keys import new_key
from tests.support.server import ACCESS_KEY_SECRET, ServerProcess, running

SYMMETRIC = ["Aliyun_AES_256", "Aliyun_AES_192", "Aliyun_AES_128", "Aliyun_SM4"]
ASYMMETRIC = ["RSA_2048", "EC_P256"]
SECRETS = "PutSecretValue" in REGISTRY


def _exercise(endpoint: str) -> list[bytes]:
    """Every action that makes or seals secret bytes, through both SDKs; returns the plaintexts
    the client itself chose or received (recorded on the client side as well)."""
    seen: list[bytes] = []
    for name in ("tea", "old"):
        sdk = SDK(name, endpoint)
        for spec in SYMMETRIC:
            key_id = new_key(sdk, spec)
            sdk.call("CreateKeyVersion", KeyId=key_id)
            text = f"plaintext under {spec} via {name}, long enough"
            blob = sdk.call("Encrypt", KeyId=key_id, Plaintext=text, EncryptionContext={"k": "v"})["CiphertextBlob"]
            sdk.call("ReEncrypt", CiphertextBlob=blob, SourceEncryptionContext={"k": "v"}, DestinationKeyId=key_id)
            seen.append(text.encode())
            for length in (16, 32, 64):
                seen.append(base64.b64decode(sdk.call("GenerateDataKey", KeyId=key_id, NumberOfBytes=length)["Plaintext"]))
            hidden = sdk.call("GenerateDataKeyWithoutPlaintext", KeyId=key_id)["CiphertextBlob"]
            seen.append(base64.b64decode(sdk.call("Decrypt", CiphertextBlob=hidden)["Plaintext"]))
            wrap = wrap_params()
            exported = sdk.call("GenerateAndExportDataKey", KeyId=key_id, **wrap)
            sdk.call("ExportDataKey", CiphertextBlob=exported["CiphertextBlob"], **wrap)
        for spec in ASYMMETRIC:
            sdk.call("CreateKey", KeySpec=spec, KeyUsage="SIGN/VERIFY")
        if SECRETS:
            secret_name = f"at-rest-{name}"
            for i, version in enumerate(("v1", "v2")):
                data = f"secret value {i} of {name}: correct horse battery staple"
                if i == 0:
                    sdk.call("CreateSecret", SecretName=secret_name, VersionId=version, SecretData=data)
                else:
                    sdk.call("PutSecretValue", SecretName=secret_name, VersionId=version, SecretData=data)
                assert data == sdk.call("GetSecretValue", SecretName=secret_name, VersionId=version)["SecretData"]
                seen.append(data.encode())
    return seen


def _forms(value: bytes) -> list[bytes]:
    """How a secret could sit in a file: raw, hex (both cases), Base64 (standard and URL-safe)."""
    hexed = binascii.hexlify(value)
    b64 = base64.b64encode(value)
    return [value, hexed, hexed.upper(), b64, base64.urlsafe_b64encode(value), b64.rstrip(b"=")]


def _read_records(path: Path) -> list[tuple[str, bytes]]:
    out = []
    for line in path.read_text().splitlines():
        kind, hexed = line.split()
        out.append((kind, bytes.fromhex(hexed)))
    return out


def _scan(srv: ServerProcess, needles: dict[bytes, str], root_key: bytes) -> list[str]:
    """Every (file, kind) where a recorded value shows up, except the root key in its own file."""
    found = []
    files = {p.name: p.read_bytes() for p in srv.data_dir.iterdir() if p.is_file()}
    files["server log"] = srv.log_path.read_bytes()
    for where, data in files.items():
        for needle, kind in needles.items():
            if where == "root.key" and kind == "root":
                continue
            if needle in data:
                found.append(f"{kind} in {where}")
    return found


def test_no_generated_secret_is_at_rest(tmp_path: Path) -> None:
    """Recorded key material, data keys, KEKs, plaintexts and secret values: none in the databases,
    their WAL, or the log, while running, after kill -9 and after a clean stop (S11)."""
    record = tmp_path / "recorded.txt"
    srv = ServerProcess(tmp_path / "data", module="tests.support.recording_server",
                        env={"OPENKMS_TEST_RECORD": str(record)})
    with running(srv):
        client_side = _exercise(srv.endpoint)
        records = _read_records(record)
        kinds = Counter(kind for kind, _ in records)
        # The hook saw what was made: one root key, a KEK, material for every key and version, data keys.
        assert kinds["root"] >= 1
        assert kinds["wrap-plaintext"] >= 1 + 2 * (2 * len(SYMMETRIC) + len(ASYMMETRIC))
        assert kinds["material"] >= 2 * (2 * len(SYMMETRIC) + len(ASYMMETRIC))
        assert kinds["blob-plaintext"] >= 2 * len(SYMMETRIC) * 7
        root_key = next(value for kind, value in records if kind == "root")
        needles = {form: kind for kind, value in records for form in _forms(value)}
        needles.update({form: "client-side plaintext" for value in client_side for form in _forms(value)})
        needles.update({form: "root AccessKey secret" for form in _forms(ACCESS_KEY_SECRET.encode())})
        assert any(p.name.endswith("-wal") for p in srv.data_dir.iterdir())
        assert _scan(srv, needles, root_key) == [], "while running"
        srv.kill9()
        assert any(p.name.endswith("-wal") for p in srv.data_dir.iterdir())
        assert _scan(srv, needles, root_key) == [], "after kill -9"
        srv.start()
        srv.stop()
        assert _scan(srv, needles, root_key) == [], "after a clean stop"
        # Positive control: the same scan finds the root key in its own file.
        assert root_key in (srv.data_dir / "root.key").read_bytes()
        assert any(needle in (srv.data_dir / "root.key").read_bytes() for needle, kind in needles.items() if kind == "root")
    print(f"recorded {dict(kinds)}, {len(client_side)} client-side values, {len(needles)} needles scanned")
