"""Asymmetric operations (group E): AsymmetricSign, AsymmetricVerify, AsymmetricEncrypt,
AsymmetricDecrypt, GetPublicKey.

Digests, signatures, plaintexts and ciphertexts travel as Base64 of raw bytes; a value that is
not Base64 is 400 InvalidParameter naming the parameter. Outputs are standard: DER signatures
(ECDSA, SM2), raw RSA signatures and OAEP ciphertexts, GM/T 0009 DER SM2 ciphertexts, PEM public
keys.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

from openkms.api.keys import KEY_ID
from openkms.api.spec import ActionSpec, Param
from openkms.api.symmetric import DRY_RUN, RECIPIENT
from openkms.domain.algorithms import ENCRYPT_ALGORITHMS, SIGN_ALGORITHMS
from openkms.service.context import CallContext
from openkms.wire import errors

KEY_VERSION_ID = Param(
    "KeyVersionId", required=True, max=128, doc="Required: asymmetric operations name the version."
)
SIGN_ALGORITHM = Param("Algorithm", required=True, enum=SIGN_ALGORITHMS)
ENCRYPT_ALGORITHM = Param("Algorithm", required=True, enum=ENCRYPT_ALGORITHMS)
DIGEST = Param(
    "Digest", required=True, max=1024, doc="Base64 of a 32-byte digest (SHA-256; SM2DSA: SM3(Z||M))."
)


def b64decode(value: str, parameter: str) -> bytes:
    """Strict Base64; anything else is 400 InvalidParameter naming ``parameter``."""
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise errors.InvalidParameter(parameter, "It must be Base64.") from None


def b64encode(data: bytes) -> str:
    return base64.b64encode(data).decode()


def asymmetric_sign(
    ctx: CallContext, *, key_id: str, key_version_id: str, algorithm: str, digest: str, dry_run: bool
) -> dict[str, Any]:
    key, version, signature = ctx.services.asymmetric.sign(
        ctx.scope, key_id, key_version_id, algorithm, b64decode(digest, "Digest"), dry_run=dry_run
    )
    return {"KeyId": key.key_id, "KeyVersionId": version, "Value": b64encode(signature)}


def asymmetric_verify(
    ctx: CallContext,
    *,
    key_id: str,
    key_version_id: str,
    algorithm: str,
    digest: str,
    value: str,
    dry_run: bool,
) -> dict[str, Any]:
    key, version, ok = ctx.services.asymmetric.verify(
        ctx.scope,
        key_id,
        key_version_id,
        algorithm,
        b64decode(digest, "Digest"),
        b64decode(value, "Value"),
        dry_run=dry_run,
    )
    return {"KeyId": key.key_id, "KeyVersionId": version, "Value": ok}


def asymmetric_encrypt(
    ctx: CallContext, *, key_id: str, key_version_id: str, algorithm: str, plaintext: str, dry_run: bool
) -> dict[str, Any]:
    key, version, ciphertext = ctx.services.asymmetric.encrypt(
        ctx.scope, key_id, key_version_id, algorithm, b64decode(plaintext, "Plaintext"), dry_run=dry_run
    )
    return {"KeyId": key.key_id, "KeyVersionId": version, "CiphertextBlob": b64encode(ciphertext)}


def asymmetric_decrypt(
    ctx: CallContext,
    *,
    key_id: str,
    key_version_id: str,
    algorithm: str,
    ciphertext_blob: str,
    dry_run: bool,
) -> dict[str, Any]:
    key, version, plaintext = ctx.services.asymmetric.decrypt(
        ctx.scope,
        key_id,
        key_version_id,
        algorithm,
        b64decode(ciphertext_blob, "CiphertextBlob"),
        dry_run=dry_run,
    )
    return {"KeyId": key.key_id, "KeyVersionId": version, "Plaintext": b64encode(plaintext)}


def get_public_key(ctx: CallContext, *, key_id: str, key_version_id: str, dry_run: bool) -> dict[str, Any]:
    key, version, pem = ctx.services.asymmetric.public_key_pem(
        ctx.scope, key_id, key_version_id, dry_run=dry_run
    )
    return {"KeyId": key.key_id, "KeyVersionId": version, "PublicKey": pem}


ACTIONS = [
    ActionSpec(
        "AsymmetricSign",
        asymmetric_sign,
        (KEY_ID, KEY_VERSION_ID, SIGN_ALGORITHM, DIGEST, DRY_RUN),
        doc="Sign a digest with a SIGN/VERIFY key version.",
        inline=True,
    ),
    ActionSpec(
        "AsymmetricVerify",
        asymmetric_verify,
        (
            KEY_ID,
            KEY_VERSION_ID,
            SIGN_ALGORITHM,
            DIGEST,
            Param("Value", required=True, max=4096, doc="Base64 signature."),
            DRY_RUN,
        ),
        doc="Verify a signature over a digest; a bad signature is Value=false.",
        inline=True,
    ),
    ActionSpec(
        "AsymmetricEncrypt",
        asymmetric_encrypt,
        (
            KEY_ID,
            KEY_VERSION_ID,
            ENCRYPT_ALGORITHM,
            Param("Plaintext", required=True, max=8192, doc="Base64 of at most the algorithm's limit."),
            DRY_RUN,
        ),
        doc="Encrypt with the public key of an ENCRYPT/DECRYPT key version.",
        inline=True,
    ),
    ActionSpec(
        "AsymmetricDecrypt",
        asymmetric_decrypt,
        (
            KEY_ID,
            KEY_VERSION_ID,
            ENCRYPT_ALGORITHM,
            Param("CiphertextBlob", required=True, max=16384, doc="Base64 of the raw ciphertext."),
            DRY_RUN,
        ),
        doc="Decrypt with the private key of an ENCRYPT/DECRYPT key version.",
        unsupported=(RECIPIENT,),
        inline=True,
    ),
    ActionSpec(
        "GetPublicKey",
        get_public_key,
        (KEY_ID, KEY_VERSION_ID, DRY_RUN),
        doc="The PEM public key of an asymmetric key version.",
        inline=True,
    ),
]
