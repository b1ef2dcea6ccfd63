"""ProtectionLevel=HSM keys of a deployment whose root is on a SoftHSM2 token of this test run
(skipped without SoftHSM2): the version's material is the token's wrap (never the key), blobs
round-trip through the token with the usual AAD binding, rotation makes HSM versions, specs the
token cannot keep are refused, and a deployment of another provider refuses HSM keys."""

from __future__ import annotations

import base64
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest

from openkms.config import Settings
from openkms.domain import errors
from openkms.domain.ciphertext import parse_blob
from openkms.domain.clock import FixedClock
from openkms.domain.key import Key
from openkms.service.context import build_services
from openkms.service.deployment import init_deployment, open_deployment
from tests.support.inprocess import START, World
from tests.support.softhsm import Token, init_token, require_softhsm, shared_conf

pytestmark = pytest.mark.pkcs11


@pytest.fixture(scope="module")
def token(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Token]:
    require_softhsm()
    conf = shared_conf(tmp_path_factory)
    yield init_token(conf, f"svc-{secrets.token_hex(4)}")


def _settings(token: Token, data_dir: Path) -> Settings:
    return Settings(
        data_dir=data_dir,
        database=None,
        root_key_file=None,
        region="cn-hangzhou",
        root_provider="pkcs11",
        pkcs11_module=Path(token.module),
        pkcs11_token_label=token.label,
        pkcs11_pin=token.pin,
    )


@pytest.fixture(scope="module")
def hsm_world(token: Token, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    data_dir = tmp_path_factory.mktemp("hsm") / "data"
    clock = FixedClock(START)
    dep = init_deployment(_settings(token, data_dir), clock)[0]
    world = World(dep, build_services(dep), clock)
    yield world
    world.services.audit.close()
    world.close()


def _create(world: World, spec: str = "Aliyun_AES_256", **extra: object) -> Key:
    args: dict[str, object] = {
        "key_spec": spec,
        "key_usage": None,
        "origin": "Aliyun_KMS",
        "protection_level": "HSM",
        "description": "",
        "enable_automatic_rotation": False,
        "rotation_interval": None,
        "tag_map": {},
        "account_uid": world.dep.account_id,
    }
    args.update(extra)
    return world.keys.create(**args)  # type: ignore[arg-type]


def test_an_hsm_key_encrypts_in_the_token_and_its_material_is_only_a_wrap(hsm_world: World) -> None:
    w = hsm_world
    key = _create(w)
    assert key.protection_level == "HSM"
    sym = w.services.symmetric
    context = {"purpose": "test"}
    sealed = sym.encrypt(w.scope, key.key_id, b"in the token", context)
    assert sym.decrypt(w.scope, sealed.blob, context).plaintext == b"in the token"
    with pytest.raises(errors.InvalidCiphertext):
        sym.decrypt(w.scope, sealed.blob, {"purpose": "other"})
    raw = bytearray(base64.b64decode(sealed.blob))
    raw[-1] ^= 1
    with pytest.raises(errors.InvalidCiphertext):
        sym.decrypt(w.scope, base64.b64encode(bytes(raw)).decode(), context)
    # What the KEK unwraps is the token's wrap of the key (master id + RFC 5649), not a key.
    assert key.primary_version_id is not None
    material = w.keys.material(key, key.primary_version_id)
    assert len(material) == 16 + 40
    held = w.keys.hsm.token().held_object(key.primary_version_id)
    import pkcs11

    with pytest.raises(pkcs11.AttributeSensitive):
        held[pkcs11.Attribute.VALUE]
    # Another process's services (caches of their own) decrypt the same blob.
    other = w.another_process()
    assert other.symmetric.decrypt(w.scope, sealed.blob, context).plaintext == b"in the token"


def test_data_keys_reencrypt_and_rotation_make_hsm_versions(hsm_world: World) -> None:
    w = hsm_world
    sym = w.services.symmetric
    key = _create(w)
    software = w.create_key()
    blob, text = sym.generate_data_key(w.scope, key.key_id, 32, {})
    assert sym.decrypt(w.scope, blob.blob, {}).plaintext == text.encode()
    moved = sym.reencrypt(w.scope, blob.blob, {}, software.key_id, {"k": "v"})
    back = sym.reencrypt(w.scope, moved.blob, {"k": "v"}, key.key_id, {})
    assert back.key_id == key.key_id
    assert sym.decrypt(w.scope, back.blob, {}).plaintext == text.encode()

    version = w.services.versions.create(w.scope, key.key_id)
    assert version.version_id != key.primary_version_id
    rotated = w.keys.get(w.scope, key.key_id)
    newer = sym.encrypt(w.scope, key.key_id, b"v2", {})
    assert parse_blob(newer.blob).version_id == version.version_id
    assert len(w.keys.material(rotated, version.version_id)) == 16 + 40
    assert sym.decrypt(w.scope, newer.blob, {}).plaintext == b"v2"
    assert sym.decrypt(w.scope, blob.blob, {}).plaintext == text.encode()  # the first version


def test_automatic_rotation_makes_hsm_versions(hsm_world: World) -> None:
    w = hsm_world
    key = _create(w, enable_automatic_rotation=True, rotation_interval="7d")
    first = w.services.symmetric.encrypt(w.scope, key.key_id, b"before", {})
    w.clock.at += 8 * 86400
    assert w.services.versions.rotate_due() >= 1
    rotated = w.keys.get(w.scope, key.key_id)
    assert rotated.primary_version_id not in (None, key.primary_version_id)
    assert rotated.primary_version_id is not None
    assert len(w.keys.material(rotated, rotated.primary_version_id)) == 16 + 40
    after = w.services.symmetric.encrypt(w.scope, key.key_id, b"after", {})
    assert parse_blob(after.blob).version_id == rotated.primary_version_id
    assert w.services.symmetric.decrypt(w.scope, after.blob, {}).plaintext == b"after"
    assert w.services.symmetric.decrypt(w.scope, first.blob, {}).plaintext == b"before"


def test_a_secret_sealed_under_an_hsm_key(hsm_world: World) -> None:
    w = hsm_world
    key = _create(w)
    w.services.secrets.create(
        w.scope, name="hsm-sealed", version_id="v1", data="s3cret", data_type="text", description="",
        encryption_key_id=key.key_id, tag_map={}, policy=None,
    )  # fmt: skip
    assert w.services.secrets.get_value(w.scope, "hsm-sealed", None, None).data == "s3cret"
    other = w.another_process()
    assert other.secrets.get_value(w.scope, "hsm-sealed", None, None).data == "s3cret"


def test_specs_the_token_cannot_keep_are_refused(hsm_world: World) -> None:
    w = hsm_world
    for spec in ("Aliyun_SM4", "EC_SM2", "HMAC_SHA_256"):
        with pytest.raises(errors.UnsupportedOperation, match="ProtectionLevel HSM is offered"):
            _create(w, spec)
    with pytest.raises(errors.UnsupportedOperation, match="KeyUsage SIGN/VERIFY"):
        _create(w, "RSA_2048", key_usage="ENCRYPT/DECRYPT")
    with pytest.raises(errors.UnsupportedOperation, match="Origin Aliyun_KMS"):
        _create(w, origin="EXTERNAL")
    for spec in ("Aliyun_AES_128", "Aliyun_AES_192"):
        key = _create(w, spec)
        sealed = w.services.symmetric.encrypt(w.scope, key.key_id, b"ok", {})
        assert w.services.symmetric.decrypt(w.scope, sealed.blob, {}).plaintext == b"ok"


@pytest.mark.parametrize(
    ("spec", "algorithm"),
    [("RSA_2048", "RSA_PSS_SHA_256"), ("RSA_3072", "RSA_PKCS1_SHA_256"), ("EC_P256", "ECDSA_SHA_256")],
)
def test_hsm_key_pairs_sign_in_the_token(hsm_world: World, spec: str, algorithm: str) -> None:
    import hashlib

    from cryptography.hazmat.primitives.serialization import load_pem_public_key

    w = hsm_world
    key = _create(w, spec, key_usage="SIGN/VERIFY")
    assert key.protection_level == "HSM" and key.primary_version_id is not None
    asym = w.services.asymmetric
    digest = hashlib.sha256(b"a message").digest()
    _, version_id, signature = asym.sign(w.scope, key.key_id, key.primary_version_id, algorithm, digest)
    assert version_id == key.primary_version_id
    assert asym.verify(w.scope, key.key_id, version_id, algorithm, digest, signature)[2]
    assert not asym.verify(
        w.scope, key.key_id, version_id, algorithm, hashlib.sha256(b"x").digest(), signature
    )[2]
    # The material is the token's wrap of the private key, never the key's DER.
    wrapped = w.keys.material(key, version_id)
    with pytest.raises(ValueError):
        from cryptography.hazmat.primitives.serialization import load_der_private_key

        load_der_private_key(wrapped, None)
    from openkms.crypto import asymmetric

    _, _, pem = asym.public_key_pem(w.scope, key.key_id, version_id)
    public = load_pem_public_key(pem.encode())
    assert asymmetric.verify(public, algorithm, digest, signature)  # type: ignore[arg-type]


def test_a_token_lacking_a_mechanism_refuses_the_spec(
    hsm_world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    import pkcs11

    token = hsm_world.keys.hsm.token()
    offered = token.mechanisms()
    monkeypatch.setattr(
        type(token), "mechanisms", lambda self: offered - {int(pkcs11.Mechanism.AES_KEY_WRAP_PAD)}
    )
    with pytest.raises(errors.UnsupportedOperation, match="lacks CKM_AES_KEY_WRAP_PAD"):
        _create(hsm_world)


def test_the_deployment_reopened_decrypts_what_it_sealed(token: Token, tmp_path: Path) -> None:
    settings = _settings(token, tmp_path / "data")
    dep = init_deployment(settings, FixedClock(START))[0]
    services = build_services(dep)
    world = World(dep, services, FixedClock(START))
    key = _create(world)
    sealed = services.symmetric.encrypt(world.scope, key.key_id, b"kept", {})
    services.audit.close()
    dep.close()
    again = open_deployment(settings, FixedClock(START))
    services = build_services(again)
    try:
        reopened = World(again, services, FixedClock(START))
        assert services.symmetric.decrypt(reopened.scope, sealed.blob, {}).plaintext == b"kept"
        described = services.keys.get(reopened.scope, key.key_id)
        assert described.protection_level == "HSM"
    finally:
        services.audit.close()
        again.close()


def test_a_deployment_of_another_provider_refuses_hsm_keys(disk_world: World) -> None:
    with pytest.raises(errors.UnsupportedOperation, match="needs a PKCS#11 root of trust"):
        _create(disk_world)
