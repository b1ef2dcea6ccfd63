"""Symmetric cryptographic actions: Encrypt, Decrypt, ReEncrypt, GenerateDataKey,
GenerateDataKeyWithoutPlaintext, GenerateAndExportDataKey and ExportDataKey.

Plaintexts are opaque strings: their UTF-8 bytes are encrypted and Decrypt answers the same
string. Data keys answer Base64 of the raw key, and their blobs hold that Base64 text.
"""

from __future__ import annotations

import base64
from typing import Any

from openkms.api.keys import KEY_ID
from openkms.api.spec import ActionSpec, Param, Unsupported
from openkms.domain import errors as d
from openkms.domain.algorithms import ENCRYPT_ALGORITHMS
from openkms.domain.ciphertext import (
    MAX_BLOB_CHARS,
    MAX_CONTEXT_CHARS,
    MAX_PLAINTEXT_BYTES,
    parse_context,
    plaintext_bytes,
)
from openkms.domain.datakey import (
    DATA_KEY_SPECS,
    MAX_DATA_KEY_BYTES,
    MIN_DATA_KEY_BYTES,
    WRAPPING_ALGORITHMS,
    WRAPPING_KEY_SPECS,
    data_key_length,
)
from openkms.service import symmetric
from openkms.service.context import CallContext
from openkms.wire import errors

DRY_RUN = Param(
    "DryRun", kind=bool, default=False, doc="Check everything, do nothing, answer DryRunOperationError."
)
# No length bound here: parse_blob enforces it, so every bad blob gets one and the same answer.
BLOB = Param(
    "CiphertextBlob", required=True, doc=f"Base64 blob of Encrypt or a data-key action (≤ {MAX_BLOB_CHARS})."
)
CONTEXT = Param("EncryptionContext", max=MAX_CONTEXT_CHARS, doc="JSON object of string -> string.")
# Alibaba answers a Recipient (an enclave's attestation document) with CiphertextForRecipient;
# openkms cannot verify an attestation, and ignoring Recipient would hand out the plaintext the
# caller asked to be kept from it.
RECIPIENT = Unsupported(
    "Recipient",
    "Recipient (attested decryption) is not supported.",
    doc="Attested decryption for confidential computing (CiphertextForRecipient).",
)
DATA_KEY_SPEC = Param("KeySpec", enum=tuple(DATA_KEY_SPECS), doc="AES_256 (32 bytes) or AES_128 (16).")
NUMBER_OF_BYTES = Param(
    "NumberOfBytes", kind=int, min=MIN_DATA_KEY_BYTES, max=MAX_DATA_KEY_BYTES, doc="Overrides KeySpec."
)
WRAPPING_PARAMS = (
    Param("PublicKeyBlob", required=True, max=16384, doc="Base64 DER SubjectPublicKeyInfo."),
    Param("WrappingKeySpec", required=True, enum=WRAPPING_KEY_SPECS),
    Param("WrappingAlgorithm", required=True, enum=WRAPPING_ALGORITHMS, doc="SM2PKE with EC_SM2."),
)


def _wrapping(public_key_blob: str, wrapping_key_spec: str, wrapping_algorithm: str) -> symmetric.Wrapping:
    return symmetric.Wrapping(public_key_blob, wrapping_key_spec, wrapping_algorithm)


def _text(plaintext: bytes) -> str:
    try:
        return plaintext.decode("utf-8")
    except UnicodeDecodeError:
        # Every blob made through the API holds UTF-8; others are not Decrypt's to answer.
        raise d.InvalidCiphertext() from None


def _sealed(sealed: symmetric.Sealed) -> dict[str, Any]:
    return {"KeyId": sealed.key_id, "KeyVersionId": sealed.version_id, "CiphertextBlob": sealed.blob}


def encrypt(
    ctx: CallContext, *, key_id: str, plaintext: str, encryption_context: str | None, dry_run: bool
) -> dict[str, Any]:
    data = plaintext_bytes(plaintext)
    context = parse_context(encryption_context)
    return _sealed(ctx.services.symmetric.encrypt(ctx.scope, key_id, data, context, dry_run=dry_run))


def decrypt(
    ctx: CallContext,
    *,
    ciphertext_blob: str,
    encryption_context: str | None,
    dry_run: bool,
) -> dict[str, Any]:
    context = parse_context(encryption_context)
    opened = ctx.services.symmetric.decrypt(ctx.scope, ciphertext_blob, context, dry_run=dry_run)
    return {"KeyId": opened.key_id, "KeyVersionId": opened.version_id, "Plaintext": _text(opened.plaintext)}


def reencrypt(
    ctx: CallContext,
    *,
    ciphertext_blob: str,
    destination_key_id: str,
    destination_encryption_context: str | None,
    source_encryption_context: str | None,
    source_key_id: str | None,
    source_key_version_id: str | None,
    source_encryption_algorithm: str | None,
    dry_run: bool,
) -> dict[str, Any]:
    destination_context = parse_context(destination_encryption_context, "DestinationEncryptionContext")
    if source_key_id or source_key_version_id or source_encryption_algorithm:
        # An asymmetric source: a public-key ciphertext, decrypted by the named key version.
        # All three name it; SourceEncryptionContext belongs to symmetric sources only.
        for name, given in (
            ("SourceKeyId", source_key_id),
            ("SourceKeyVersionId", source_key_version_id),
            ("SourceEncryptionAlgorithm", source_encryption_algorithm),
        ):
            if not given:
                raise errors.MissingParameter(name)
        assert source_key_id and source_key_version_id and source_encryption_algorithm
        source = symmetric.AsymmetricSource(source_key_id, source_key_version_id, source_encryption_algorithm)
        return _sealed(
            ctx.services.symmetric.reencrypt_from_asymmetric(
                ctx.scope,
                ciphertext_blob,
                source,
                destination_key_id,
                destination_context,
                dry_run=dry_run,
            )
        )
    source_context = parse_context(source_encryption_context, "SourceEncryptionContext")
    sealed = ctx.services.symmetric.reencrypt(
        ctx.scope, ciphertext_blob, source_context, destination_key_id, destination_context, dry_run=dry_run
    )
    return _sealed(sealed)


def generate_data_key(
    ctx: CallContext,
    *,
    key_id: str,
    key_spec: str | None,
    number_of_bytes: int | None,
    encryption_context: str | None,
    dry_run: bool,
) -> dict[str, Any]:
    context = parse_context(encryption_context)
    sealed, text = ctx.services.symmetric.generate_data_key(
        ctx.scope, key_id, data_key_length(key_spec, number_of_bytes), context, dry_run=dry_run
    )
    return {**_sealed(sealed), "Plaintext": text}


def generate_data_key_without_plaintext(
    ctx: CallContext,
    *,
    key_id: str,
    key_spec: str | None,
    number_of_bytes: int | None,
    encryption_context: str | None,
    dry_run: bool,
) -> dict[str, Any]:
    context = parse_context(encryption_context)
    sealed, _ = ctx.services.symmetric.generate_data_key(
        ctx.scope, key_id, data_key_length(key_spec, number_of_bytes), context, dry_run=dry_run
    )
    return _sealed(sealed)


def generate_and_export_data_key(
    ctx: CallContext,
    *,
    key_id: str,
    key_spec: str | None,
    number_of_bytes: int | None,
    encryption_context: str | None,
    public_key_blob: str,
    wrapping_key_spec: str,
    wrapping_algorithm: str,
    dry_run: bool,
) -> dict[str, Any]:
    context = parse_context(encryption_context)
    sealed, exported = ctx.services.symmetric.generate_and_export_data_key(
        ctx.scope,
        key_id,
        data_key_length(key_spec, number_of_bytes),
        context,
        _wrapping(public_key_blob, wrapping_key_spec, wrapping_algorithm),
        dry_run=dry_run,
    )
    return {**_sealed(sealed), "ExportedDataKey": base64.b64encode(exported).decode("ascii")}


def export_data_key(
    ctx: CallContext,
    *,
    ciphertext_blob: str,
    encryption_context: str | None,
    public_key_blob: str,
    wrapping_key_spec: str,
    wrapping_algorithm: str,
    dry_run: bool,
) -> dict[str, Any]:
    context = parse_context(encryption_context)
    opened, exported = ctx.services.symmetric.export_data_key(
        ctx.scope,
        ciphertext_blob,
        context,
        _wrapping(public_key_blob, wrapping_key_spec, wrapping_algorithm),
        dry_run=dry_run,
    )
    return {
        "KeyId": opened.key_id,
        "KeyVersionId": opened.version_id,
        "ExportedDataKey": base64.b64encode(exported).decode("ascii"),
    }


ACTIONS = [
    ActionSpec(
        "Encrypt",
        encrypt,
        (
            KEY_ID,
            Param("Plaintext", required=True, doc=f"Opaque text, ≤ {MAX_PLAINTEXT_BYTES} UTF-8 bytes."),
            CONTEXT,
            DRY_RUN,
        ),
        doc="Encrypt up to 6 KB under the key's primary version.",
        inline=True,
    ),
    ActionSpec(
        "Decrypt",
        decrypt,
        (BLOB, CONTEXT, DRY_RUN),
        doc="Decrypt a blob; the key and version come from the blob.",
        unsupported=(RECIPIENT,),
        inline=True,
    ),
    ActionSpec(
        "ReEncrypt",
        reencrypt,
        (
            BLOB,
            Param("DestinationKeyId", required=True, max=2048, doc="Symmetric key that encrypts the result."),
            Param("DestinationEncryptionContext", max=MAX_CONTEXT_CHARS),
            Param("SourceEncryptionContext", max=MAX_CONTEXT_CHARS),
            Param("SourceKeyId", max=2048, doc="Asymmetric source: the key whose private key decrypts."),
            Param("SourceKeyVersionId", max=64, doc="Asymmetric source: its version."),
            Param(
                "SourceEncryptionAlgorithm",
                enum=ENCRYPT_ALGORITHMS,
                doc="Asymmetric source: how CiphertextBlob was encrypted.",
            ),
            DRY_RUN,
        ),
        doc=(
            "Decrypt a symmetric blob (or a public-key ciphertext of an asymmetric key version) "
            "and encrypt it under another key, inside the service."
        ),
        inline=True,
    ),
    ActionSpec(
        "GenerateDataKey",
        generate_data_key,
        (KEY_ID, DATA_KEY_SPEC, NUMBER_OF_BYTES, CONTEXT, DRY_RUN),
        doc="A random data key: Plaintext (Base64) and CiphertextBlob.",
        unsupported=(RECIPIENT,),
        inline=True,
    ),
    ActionSpec(
        "GenerateDataKeyWithoutPlaintext",
        generate_data_key_without_plaintext,
        (KEY_ID, DATA_KEY_SPEC, NUMBER_OF_BYTES, CONTEXT, DRY_RUN),
        doc="A random data key, answered only as CiphertextBlob.",
        inline=True,
    ),
    ActionSpec(
        "GenerateAndExportDataKey",
        generate_and_export_data_key,
        (KEY_ID, DATA_KEY_SPEC, NUMBER_OF_BYTES, CONTEXT, *WRAPPING_PARAMS, DRY_RUN),
        doc="A random data key as CiphertextBlob and wrapped under a public key.",
        inline=True,
    ),
    ActionSpec(
        "ExportDataKey",
        export_data_key,
        (BLOB, CONTEXT, *WRAPPING_PARAMS, DRY_RUN),
        doc="Re-wrap the data key of a blob under a public key.",
        inline=True,
    ),
]
