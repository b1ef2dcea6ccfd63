"""Bring your own key through both official SDKs (alibaba-kms-api.md group F, §9.3, §9.6):
GetParametersForImport, ImportKeyMaterial and DeleteKeyMaterial, and the promise that deleted
material, imported again, opens the old ciphertexts."""

from __future__ import annotations

import base64
import binascii
import os
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import load_der_public_key

from openkms.crypto import sm2
from openkms.domain.clock import parse_iso
from tests.support.byok import wrap
from tests.support.calls import SDK, ApiError, api_error
from tests.support.inprocess import run_jobs_offline
from tests.support.keys import new_key
from tests.support.server import ServerProcess

OAEP = "RSAES_OAEP_SHA_256"
FAR_FUTURE = 4_102_444_800  # 2100-01-01T00:00:00Z


def _external(sdk: SDK, spec: str = "Aliyun_AES_256") -> str:
    """A new EXTERNAL key of ``spec``, PendingImport; its id."""
    return new_key(sdk, spec, Origin="EXTERNAL")


def _params(sdk: SDK, key_id: str, algorithm: str = OAEP) -> dict[str, Any]:
    spec = "EC_SM2" if algorithm == "SM2PKE" else "RSA_2048"
    return sdk.call("GetParametersForImport", KeyId=key_id, WrappingKeySpec=spec, WrappingAlgorithm=algorithm)


def _import(sdk: SDK, key_id: str, material: bytes, algorithm: str = OAEP, expire: int | None = 0) -> dict[str, Any]:
    params = _params(sdk, key_id, algorithm)
    return sdk.call(
        "ImportKeyMaterial",
        KeyId=key_id,
        EncryptedKeyMaterial=wrap(params["PublicKey"], algorithm, material),
        ImportToken=params["ImportToken"],
        KeyMaterialExpireUnix=expire,
    )


def _meta(sdk: SDK, key_id: str) -> dict[str, Any]:
    return dict(sdk.call("DescribeKey", KeyId=key_id)["KeyMetadata"])


def _code(error: ApiError) -> tuple[str, int]:
    """An error's (code, HTTP status)."""
    return error.code, error.status


def _byok_refusals(sdk: SDK, key_id: str) -> list[tuple[str, int]]:
    """The three BYOK actions on ``key_id``, each of which must be refused: their (code, status)."""
    errors = [
        sdk.error("GetParametersForImport", KeyId=key_id, WrappingKeySpec="RSA_2048", WrappingAlgorithm=OAEP),
        sdk.error("ImportKeyMaterial", KeyId=key_id, EncryptedKeyMaterial="AAAA", ImportToken="t", KeyMaterialExpireUnix=0),
        sdk.error("DeleteKeyMaterial", KeyId=key_id),
    ]
    return [_code(e) for e in errors]


def test_import_delete_reimport_round_trip(sdk: SDK) -> None:
    """Import, encrypt, delete (Decrypt is 409 Rejected.PendingImport), import the same material
    again and the old ciphertext decrypts; different material is refused afterwards."""
    key_id = _external(sdk)
    assert _meta(sdk, key_id)["KeyState"] == "PendingImport"
    material = os.urandom(32)

    assert _import(sdk, key_id, material)["RequestId"]
    assert _meta(sdk, key_id)["KeyState"] == "Enabled"
    blob = sdk.call("Encrypt", KeyId=key_id, Plaintext="bring your own key")["CiphertextBlob"]
    assert sdk.call("Decrypt", CiphertextBlob=blob)["Plaintext"] == "bring your own key"

    assert sdk.call("DeleteKeyMaterial", KeyId=key_id)["RequestId"]
    meta = _meta(sdk, key_id)
    assert (meta["KeyState"], meta["MaterialExpireTime"]) == ("PendingImport", "")
    assert _code(sdk.error("Decrypt", CiphertextBlob=blob)) == ("Rejected.PendingImport", 409)
    assert _code(sdk.error("Encrypt", KeyId=key_id, Plaintext="x")) == ("Rejected.PendingImport", 409)

    _import(sdk, key_id, material)
    assert _meta(sdk, key_id)["KeyState"] == "Enabled"
    assert sdk.call("Decrypt", CiphertextBlob=blob)["Plaintext"] == "bring your own key"

    assert _code(api_error(lambda: _import(sdk, key_id, os.urandom(32)))) == ("InvalidKeyMaterial", 400)
    sdk.call("DeleteKeyMaterial", KeyId=key_id)
    assert _code(api_error(lambda: _import(sdk, key_id, os.urandom(32)))) == ("InvalidKeyMaterial", 400)
    assert _meta(sdk, key_id)["KeyState"] == "PendingImport"


def test_parameters_for_import(sdk: SDK) -> None:
    """PublicKey is Base64 DER SPKI of RSA-2048; each call gives a fresh key and token; the token
    expires 24 hours after it was issued (exactly: tests/unit/service/test_byok.py)."""
    key_id = _external(sdk)
    first, second = _params(sdk, key_id), _params(sdk, key_id)
    assert key_id == first["KeyId"]
    public = load_der_public_key(base64.b64decode(first["PublicKey"], validate=True))
    assert isinstance(public, rsa.RSAPublicKey)
    assert public.key_size == 2048
    assert first["PublicKey"] != second["PublicKey"]
    assert first["ImportToken"] != second["ImportToken"]
    created = parse_iso(_meta(sdk, key_id)["CreationDate"])
    assert parse_iso(first["TokenExpireTime"]) >= created + 24 * 3600


@pytest.mark.parametrize("algorithm", ["RSAES_OAEP_SHA_256", "RSAES_OAEP_SHA_1", "RSAES_PKCS1_V1_5", "SM2PKE"])
def test_each_wrapping_algorithm_imports(sdk: SDK, algorithm: str) -> None:
    """Material wrapped with each RSA_2048 algorithm, and with SM2PKE under EC_SM2, imports and
    the key encrypts; the same material then imports again through another algorithm."""
    key_id = _external(sdk)
    material = os.urandom(32)
    _import(sdk, key_id, material, algorithm)
    blob = sdk.call("Encrypt", KeyId=key_id, Plaintext="p")["CiphertextBlob"]
    sdk.call("DeleteKeyMaterial", KeyId=key_id)
    _import(sdk, key_id, material, "SM2PKE" if algorithm != "SM2PKE" else OAEP)
    assert sdk.call("Decrypt", CiphertextBlob=blob)["Plaintext"] == "p"


@pytest.mark.parametrize(("spec", "size"), [("Aliyun_AES_256", 32), ("Aliyun_SM4", 16), ("Aliyun_AES_128", 16)])
def test_material_length_per_spec(sdk: SDK, spec: str, size: int) -> None:
    """Each spec takes material of exactly its length; other lengths are InvalidKeyMaterial."""
    key_id = _external(sdk, spec)
    for wrong in (size // 2, size + 8):
        assert _code(api_error(lambda w=wrong: _import(sdk, key_id, os.urandom(w)))) == ("InvalidKeyMaterial", 400)
    _import(sdk, key_id, os.urandom(size))
    blob = sdk.call("Encrypt", KeyId=key_id, Plaintext="sized")["CiphertextBlob"]
    assert sdk.call("Decrypt", CiphertextBlob=blob)["Plaintext"] == "sized"


def test_tokens_are_checked(sdk: SDK) -> None:
    """An unknown token and another key's token are InvalidImportToken."""
    key_id, other = _external(sdk), _external(sdk)
    params = _params(sdk, other)
    wrapped = wrap(params["PublicKey"], OAEP, os.urandom(32))
    for token in ("bm90LWEtdG9rZW4=", params["ImportToken"]):
        error = sdk.error(
            "ImportKeyMaterial", KeyId=key_id, EncryptedKeyMaterial=wrapped, ImportToken=token, KeyMaterialExpireUnix=0
        )
        assert _code(error) == ("InvalidImportToken", 400)


def test_material_expire_time_is_shown(sdk: SDK) -> None:
    """KeyMaterialExpireUnix becomes DescribeKey's MaterialExpireTime; a re-import with 0 clears it;
    a time in the past is InvalidParameter."""
    key_id = _external(sdk)
    material = os.urandom(32)
    _import(sdk, key_id, material, expire=FAR_FUTURE)
    assert _meta(sdk, key_id)["MaterialExpireTime"] == "2100-01-01T00:00:00Z"
    _import(sdk, key_id, material, expire=0)
    assert _meta(sdk, key_id)["MaterialExpireTime"] == ""
    assert _code(api_error(lambda: _import(sdk, key_id, material, expire=1_000_000_000))) == ("InvalidParameter", 400)


def test_states_around_import_and_delete(sdk: SDK) -> None:
    """Disabled stays Disabled on re-import; PendingDeletion refuses import (409
    StateModifiedFailed) and keeps its state and DeleteDate on DeleteKeyMaterial."""
    key_id = _external(sdk)
    material = os.urandom(32)
    _import(sdk, key_id, material)
    sdk.call("DisableKey", KeyId=key_id)
    _import(sdk, key_id, material, expire=FAR_FUTURE)
    assert _meta(sdk, key_id)["KeyState"] == "Disabled"

    sdk.call("ScheduleKeyDeletion", KeyId=key_id, PendingWindowInDays=7)
    before = _meta(sdk, key_id)
    assert _code(api_error(lambda: _import(sdk, key_id, material))) == ("Rejected.StateModifiedFailed", 409)
    sdk.call("DeleteKeyMaterial", KeyId=key_id)
    after = _meta(sdk, key_id)
    assert ("PendingDeletion", before["DeleteDate"], "") == (
        after["KeyState"], after["DeleteDate"], after["MaterialExpireTime"]
    )
    sdk.call("CancelKeyDeletion", KeyId=key_id)
    assert _meta(sdk, key_id)["KeyState"] == "PendingImport"


def test_non_external_keys_are_unsupported_origin(sdk: SDK) -> None:
    """All three BYOK actions on an Aliyun_KMS key answer 400 Unsupported.Origin."""
    assert _byok_refusals(sdk, new_key(sdk)) == [("Unsupported.Origin", 400)] * 3


def test_wrapping_choices(sdk: SDK) -> None:
    """SM2PKE with RSA_2048, or OAEP with EC_SM2, is InvalidParameter naming WrappingAlgorithm;
    EC_SM2 answers a DER SubjectPublicKeyInfo of an SM2 key."""
    key_id = _external(sdk)
    for spec, algorithm in (("RSA_2048", "SM2PKE"), ("EC_SM2", OAEP)):
        error = sdk.error("GetParametersForImport", KeyId=key_id, WrappingKeySpec=spec, WrappingAlgorithm=algorithm)
        assert _code(error) == ("InvalidParameter", 400)
        assert "WrappingAlgorithm" in error.message
    public = base64.b64decode(_params(sdk, key_id, "SM2PKE")["PublicKey"])
    assert len(sm2.public_point(public)) == 64


def test_unknown_key_is_not_found(sdk: SDK) -> None:
    """A key that does not exist is 404 Forbidden.KeyNotFound for every BYOK action."""
    assert _byok_refusals(sdk, "00000000-0000-4000-8000-000000000000") == [("Forbidden.KeyNotFound", 404)] * 3


def test_material_expiry_through_the_wire(fresh_server: ServerProcess) -> None:
    """Once MaterialExpireTime passes, the job leaves the key PendingImport (Decrypt 409 on both
    SDKs); importing the same material again brings the ciphertext back."""
    tea = SDK("tea", fresh_server.endpoint)
    key_id = _external(tea)
    material = os.urandom(32)
    _import(tea, key_id, material, expire=FAR_FUTURE)
    blob = tea.call("Encrypt", KeyId=key_id, Plaintext="until 2100")["CiphertextBlob"]
    fresh_server.stop()
    assert "expire-key-material" in run_jobs_offline(fresh_server.data_dir, fresh_server.database, at=FAR_FUTURE + 1)
    fresh_server.start()
    for name in ("tea", "old"):
        sdk = SDK(name, fresh_server.endpoint)
        meta = _meta(sdk, key_id)
        assert (meta["KeyState"], meta["MaterialExpireTime"]) == ("PendingImport", "")
        assert _code(sdk.error("Decrypt", CiphertextBlob=blob)) == ("Rejected.PendingImport", 409)
    old = SDK("old", fresh_server.endpoint)
    _import(old, key_id, material)
    assert old.call("Decrypt", CiphertextBlob=blob)["Plaintext"] == "until 2100"


def test_no_imported_material_at_rest(fresh_server: ServerProcess) -> None:
    """Imported material appears nowhere in the data directory or the log: not raw, hex or Base64."""
    needles: list[bytes] = []
    for name in ("tea", "old"):
        sdk = SDK(name, fresh_server.endpoint)
        key_id = _external(sdk)
        material = os.urandom(32)
        _import(sdk, key_id, material)
        sdk.call("DeleteKeyMaterial", KeyId=key_id)
        _import(sdk, key_id, material)
        needles += [material, binascii.hexlify(material), binascii.hexlify(material).upper(), base64.b64encode(material)]
    fresh_server.stop()
    files = [p for p in fresh_server.data_dir.rglob("*") if p.is_file()]
    contents = {p.name: p.read_bytes() for p in files}
    contents["server log"] = fresh_server.log_path.read_bytes()
    for where, data in contents.items():
        for needle in needles:
            assert needle not in data, where
