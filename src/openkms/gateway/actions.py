"""The instance gateway's actions: one table row per action, each a small function over the same
services the RPC API uses (service/symmetric.py, asymmetric.py, secrets.py), so the two front
doors share keys, rules and ciphertexts.

Ciphertexts. A symmetric blob of the RPC API is ``version id (36) || IV (12) || sealed``
(docs/ciphertext.md). The instance SDK carries the same three parts apart: ``Encrypt`` answers
``CiphertextBlob`` = sealed, ``Iv`` = IV, and the version id in the ``x-kms-migrationkeyversionid``
header, which is how the KMS SDK's transfer client rebuilds the RPC blob, and ``Decrypt`` takes
them back the same way (the version from that header, or, when the caller sends only ``KeyId``,
each version of that key from the primary on). The ``Advance*`` actions answer the whole
self-describing blob as ``CiphertextBlob`` and take it back without ``KeyId``. ``Aad`` is the
EncryptionContext: empty, or a JSON object as the RPC API takes it, so a blob made by one door
opens through the other with the same context.
"""

from __future__ import annotations

import base64
import hashlib
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives import serialization

from openkms.crypto import keygen
from openkms.domain import errors
from openkms.domain.ciphertext import build_blob, is_version_id, parse_blob, parse_context
from openkms.domain.key import Key
from openkms.domain.keyspec import SPECS, Kind
from openkms.service.context import Services
from openkms.service.symmetric import Sealed
from openkms.service.tenancy import Scope

VERSION_HEADER = "x-kms-migrationkeyversionid"
# An Advance* ciphertext: "$", the format version and padding mode (0), the algorithm (2:
# AES-GCM), then the RPC API's whole blob, which the KMS SDK's transfer client takes out as is.
ADVANCE_PREFIX = b"$\x00\x02"
IV_LENGTH = 12
SEALED_MIN = 16  # the GCM tag

# The instance SDK's algorithm names for the symmetric ciphers.
_CIPHER_NAME = {"AES_GCM": "AES_GCM", "SM4_GCM": "SM4_GCM"}
# KeyPairSpec -> the key spec whose generator makes it.
_PAIR_SPECS = {
    "RSA_2048": "RSA_2048",
    "RSA_3072": "RSA_3072",
    "RSA_4096": "RSA_4096",
    "ECC_NISTP256": "EC_P256",
    "ECC_SECP256K1": "EC_P256K",
    "ECC_SM2": "EC_SM2",
}


@dataclass(frozen=True, slots=True)
class Call:
    """One decoded gateway request, as a handler sees it."""

    services: Services
    scope: Scope
    message: Any
    headers: Mapping[str, str]


@dataclass(frozen=True, slots=True)
class Answer:
    fields: dict[str, Any]
    headers: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class Action:
    name: str
    handler: Callable[[Call], Answer]
    # What the request names for the access decision: "key" (KeyId, or the key of a blob),
    # "secret" (SecretName) or None.
    resource: str | None


def _context(aad: bytes) -> dict[str, str]:
    if not aad:
        return {}
    try:
        text = aad.decode("utf-8")
    except UnicodeDecodeError:
        raise errors.InvalidValue("Aad", "Aad is the EncryptionContext: a JSON object of strings.") from None
    return parse_context(text, "Aad")


def _cipher(key: Key) -> str:
    return "SM4_GCM" if key.key_spec == "Aliyun_SM4" else "AES_GCM"


def _parts(sealed: Sealed) -> tuple[bytes, bytes]:
    blob = parse_blob(sealed.blob)
    return blob.iv, blob.sealed


def _advance(sealed: Sealed) -> bytes:
    return ADVANCE_PREFIX + base64.b64decode(sealed.blob)


def _version_header(version_id: str) -> tuple[tuple[str, str], ...]:
    return ((VERSION_HEADER, version_id),)


def _is_symmetric(services: Services, call: Call, key_ref: str) -> Key | None:
    """The key if it is symmetric, else None (the asymmetric path decides what it allows)."""
    key = services.keys.get(call.scope, key_ref)
    return key if SPECS[key.key_spec].kind is Kind.SYMMETRIC else None


# -- symmetric and asymmetric encryption ---------------------------------------------------------


def encrypt(call: Call) -> Answer:
    m, sym = call.message, call.services.symmetric
    key = _is_symmetric(call.services, call, m.KeyId)
    if key is None:
        owner, version, ciphertext = call.services.asymmetric.encrypt(
            call.scope, m.KeyId, _asymmetric_version(call), m.Algorithm, m.Plaintext
        )
        return Answer(
            {"KeyId": owner.key_id, "CiphertextBlob": ciphertext, "Algorithm": m.Algorithm},
            _version_header(version),
        )
    key = sym.encrypting_key(call.scope, m.KeyId)
    sealed = sym.seal(key, m.Plaintext, _context(m.Aad))
    iv, body = _parts(sealed)
    return Answer(
        {"KeyId": key.key_id, "CiphertextBlob": body, "Iv": iv, "Algorithm": _cipher(key)},
        _version_header(sealed.version_id),
    )


def advance_encrypt(call: Call) -> Answer:
    m, sym = call.message, call.services.symmetric
    key = sym.encrypting_key(call.scope, m.KeyId)
    sealed = sym.seal(key, m.Plaintext, _context(m.Aad))
    iv, _ = _parts(sealed)
    return Answer(
        {
            "KeyId": key.key_id,
            "CiphertextBlob": _advance(sealed),
            "Iv": iv,
            "Algorithm": _cipher(key),
            "KeyVersionId": sealed.version_id,
        },
        _version_header(sealed.version_id),
    )


def _open(call: Call, text: str) -> tuple[Key, str, bytes]:
    sym = call.services.symmetric
    key, parsed = sym.decrypting_key(call.scope, text)
    opened = sym.open_blob(key, parsed, _context(call.message.Aad))
    return key, opened.version_id, opened.plaintext


def named_blob(message: Any, headers: Mapping[str, str]) -> str | None:
    """The RPC API's blob text a decrypting request carries whole or in parts (version header,
    Iv, sealed), or None when it names no version (only its KeyId)."""
    data = bytes(message.CiphertextBlob)
    if data.startswith(ADVANCE_PREFIX):
        data = data[len(ADVANCE_PREFIX) :]
    if _whole_blob(data):
        return base64.b64encode(data).decode()
    version = headers.get(VERSION_HEADER, "")
    if version and len(message.Iv) == IV_LENGTH and len(data) >= SEALED_MIN and is_version_id(version):
        return build_blob(version, bytes(message.Iv), data)
    return None


def _versions(call: Call) -> list[str]:
    """The versions a blob given by KeyId, Iv and CiphertextBlob alone may be under: the
    primary first, then the others."""
    key = call.services.keys.get(call.scope, call.message.KeyId)
    listed = call.services.versions.list_page(call.scope, key.key_id, 1, 100)[0]
    others = [v.version_id for v in listed if v.version_id != key.primary_version_id]
    return [key.primary_version_id or "", *others]


def decrypt(call: Call) -> Answer:
    m = call.message
    text = named_blob(m, call.headers)
    if text is not None:
        key, version, plaintext = _open(call, text)
    elif m.Algorithm and not m.Iv:
        owner, version, plaintext = call.services.asymmetric.decrypt(
            call.scope, m.KeyId, _asymmetric_version(call), m.Algorithm, m.CiphertextBlob
        )
        return Answer({"KeyId": owner.key_id, "Plaintext": plaintext, "Algorithm": m.Algorithm})
    else:
        if not m.KeyId or len(m.Iv) != IV_LENGTH or len(m.CiphertextBlob) < SEALED_MIN:
            raise errors.InvalidCiphertext("CiphertextBlob")
        for version_id in _versions(call):
            try:
                key, version, plaintext = _open(
                    call, build_blob(version_id, bytes(m.Iv), bytes(m.CiphertextBlob))
                )
                break
            except errors.InvalidCiphertext:
                continue
        else:
            raise errors.InvalidCiphertext("CiphertextBlob")
    if m.KeyId and call.services.keys.get(call.scope, m.KeyId).key_id != key.key_id:
        raise errors.InvalidCiphertext("CiphertextBlob")
    return Answer(
        {"KeyId": key.key_id, "Plaintext": plaintext, "Algorithm": _cipher(key)}, _version_header(version)
    )


def _asymmetric_version(call: Call) -> str:
    named = call.headers.get(VERSION_HEADER, "")
    if named:
        return named
    key = call.services.keys.get(call.scope, call.message.KeyId)
    return key.primary_version_id or ""


def _whole_blob(data: bytes) -> bool:
    return len(data) > 36 + IV_LENGTH and is_version_id(data[:36].decode("latin-1"))


def advance_decrypt(call: Call) -> Answer:
    text = named_blob(call.message, call.headers)
    if text is None:
        raise errors.InvalidCiphertext("CiphertextBlob")
    key, version, plaintext = _open(call, text)
    return Answer(
        {"KeyId": key.key_id, "Plaintext": plaintext, "Algorithm": _cipher(key), "KeyVersionId": version}
    )


# -- data keys -------------------------------------------------------------------------------------


def _data_key_length(number: int) -> int:
    length = number or 32
    if not 1 <= length <= 1024:
        raise errors.InvalidValue("NumberOfBytes", "NumberOfBytes is from 1 to 1024.")
    return length


def generate_data_key(call: Call) -> Answer:
    m, sym = call.message, call.services.symmetric
    key = sym.encrypting_key(call.scope, m.KeyId)
    plaintext = os.urandom(_data_key_length(m.NumberOfBytes))
    sealed = sym.seal(key, plaintext, _context(m.Aad))
    iv, body = _parts(sealed)
    fields = {
        "KeyId": key.key_id,
        "Iv": iv,
        "Plaintext": plaintext,
        "CiphertextBlob": body,
        "Algorithm": _cipher(key),
    }
    return Answer(fields, _version_header(sealed.version_id))


def advance_generate_data_key(call: Call) -> Answer:
    m, sym = call.message, call.services.symmetric
    key = sym.encrypting_key(call.scope, m.KeyId)
    plaintext = os.urandom(_data_key_length(m.NumberOfBytes))
    sealed = sym.seal(key, plaintext, _context(m.Aad))
    iv, _ = _parts(sealed)
    fields = {
        "KeyId": key.key_id,
        "Iv": iv,
        "Plaintext": plaintext,
        "CiphertextBlob": _advance(sealed),
        "Algorithm": _cipher(key),
        "KeyVersionId": sealed.version_id,
    }
    return Answer(fields, _version_header(sealed.version_id))


def _pair(call: Call, *, with_plaintext: bool, advance: bool) -> Answer:
    m, sym = call.message, call.services.symmetric
    spec_name = _PAIR_SPECS.get(m.KeyPairSpec)
    if spec_name is None:
        raise errors.InvalidValue("KeyPairSpec", f"KeyPairSpec is one of {', '.join(_PAIR_SPECS)}.")
    key_format = m.KeyFormat or "PEM"
    if key_format not in ("PEM", "DER"):
        raise errors.InvalidValue("KeyFormat", "KeyFormat is PEM or DER.")
    key = sym.encrypting_key(call.scope, m.KeyId)
    private_der, public_der = keygen.generate(SPECS[spec_name])
    assert public_der is not None
    if key_format == "PEM":
        private = _pem("PRIVATE KEY", private_der)
        public = _pem("PUBLIC KEY", public_der)
    else:
        private, public = private_der, public_der
    sealed = sym.seal(key, private, _context(m.Aad))
    iv, body = _parts(sealed)
    fields: dict[str, Any] = {
        "KeyId": key.key_id,
        "Iv": iv,
        "KeyPairSpec": m.KeyPairSpec,
        "PrivateKeyCiphertextBlob": _advance(sealed) if advance else body,
        "PublicKey": public,
        "Algorithm": _cipher(key),
    }
    if with_plaintext:
        fields["PrivateKeyPlaintext"] = private
    if advance:
        fields["KeyVersionId"] = sealed.version_id
    return Answer(fields, _version_header(sealed.version_id))


def _pem(label: str, der: bytes) -> bytes:
    if label == "PUBLIC KEY":
        return serialization.load_der_public_key(der).public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    text = base64.encodebytes(der).decode("ascii")
    return f"-----BEGIN {label}-----\n{text}-----END {label}-----\n".encode("ascii")


# -- signatures, public keys, random ---------------------------------------------------------------


def _digest(call: Call) -> bytes:
    """What is signed: ``Message`` as the digest (MessageType DIGEST, the default), or its SHA-256
    (MessageType RAW; SM2 signatures take a digest only, since theirs includes the signer's Z)."""
    m = call.message
    data = bytes(m.Digest or m.Message)
    if m.MessageType in ("", "DIGEST"):
        return data
    if m.MessageType != "RAW":
        raise errors.InvalidValue("MessageType", "MessageType is RAW or DIGEST.")
    if m.Algorithm == "SM2DSA":
        raise errors.UnsupportedOperation("SM2DSA signs a DIGEST: send MessageType DIGEST.")
    return hashlib.sha256(data).digest()


def sign(call: Call) -> Answer:
    m = call.message
    owner, _, signature = call.services.asymmetric.sign(
        call.scope, m.KeyId, _asymmetric_version(call), m.Algorithm, _digest(call)
    )
    return Answer(
        {
            "KeyId": owner.key_id,
            "Signature": signature,
            "Algorithm": m.Algorithm,
            "MessageType": m.MessageType,
        }
    )


def verify(call: Call) -> Answer:
    m = call.message
    owner, _, valid = call.services.asymmetric.verify(
        call.scope, m.KeyId, _asymmetric_version(call), m.Algorithm, _digest(call), m.Signature
    )
    return Answer(
        {"KeyId": owner.key_id, "Value": valid, "Algorithm": m.Algorithm, "MessageType": m.MessageType}
    )


def get_public_key(call: Call) -> Answer:
    m = call.message
    owner, _, pem = call.services.asymmetric.public_key_pem(call.scope, m.KeyId, _asymmetric_version(call))
    return Answer({"KeyId": owner.key_id, "PublicKey": pem})


def generate_random(call: Call) -> Answer:
    length = call.message.Length or 32
    if not 1 <= length <= 1024:
        raise errors.InvalidValue("Length", "Length is from 1 to 1024.")
    return Answer({"Random": os.urandom(length)})


# -- secrets ------------------------------------------------------------------------------------------


def get_secret_value(call: Call) -> Answer:
    m = call.message
    value = call.services.secrets.get_value(
        call.scope, m.SecretName, m.VersionId or None, m.VersionStage or None
    )
    secret = value.secret
    return Answer(
        {
            "SecretName": secret.secret_name,
            "SecretType": secret.secret_type,
            "SecretData": value.data,
            "SecretDataType": value.data_type,
            "VersionStages": list(value.stages),
            "VersionId": value.version_id,
            "CreateTime": _iso(value.create_time),
            "AutomaticRotation": secret.automatic_rotation,
        }
    )


def _iso(at: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(at))


ACTIONS: dict[str, Action] = {
    a.name: a
    for a in (
        Action("Encrypt", encrypt, "key"),
        Action("Decrypt", decrypt, "key"),
        Action("GenerateDataKey", generate_data_key, "key"),
        Action("GenerateDataKeyPair", lambda c: _pair(c, with_plaintext=True, advance=False), "key"),
        Action(
            "GenerateDataKeyPairWithoutPlaintext",
            lambda c: _pair(c, with_plaintext=False, advance=False),
            "key",
        ),
        Action("Sign", sign, "key"),
        Action("Verify", verify, "key"),
        Action("GetPublicKey", get_public_key, "key"),
        Action("GenerateRandom", generate_random, None),
        Action("GetSecretValue", get_secret_value, "secret"),
        Action("AdvanceEncrypt", advance_encrypt, "key"),
        Action("AdvanceDecrypt", advance_decrypt, "key"),
        Action("AdvanceGenerateDataKey", advance_generate_data_key, "key"),
        Action("AdvanceGenerateDataKeyPair", lambda c: _pair(c, with_plaintext=True, advance=True), "key"),
        Action(
            "AdvanceGenerateDataKeyPairWithoutPlaintext",
            lambda c: _pair(c, with_plaintext=False, advance=True),
            "key",
        ),
    )
}
