"""Symmetric cryptography: Encrypt, Decrypt, ReEncrypt and the data-key actions.

The hot path reads the key row (kept only while the node writes nothing, so a node sees its own
DisableKey at once; service/caches.py), takes the version's material from the material cache and
writes nothing.
Checks run in a fixed order, all before any cryptography: the blob parses -> the key exists ->
the caller may use it (a blob of another account's key is a cross-account use, service/tenancy.py)
-> it is a symmetric ENCRYPT/DECRYPT key -> its state allows use -> DryRun stops here. Only then
is the AEAD run, and its failure is the same InvalidCiphertext as a blob that did not parse.
"""

from __future__ import annotations

import base64
import binascii
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import partial

from openkms.crypto import blob as aead_blob
from openkms.crypto import wrapping
from openkms.crypto.aead import NotAuthentic
from openkms.domain import errors, keystate
from openkms.domain.algorithms import SM2PKE, SM2PKE_MAX_PLAINTEXT
from openkms.domain.ciphertext import (
    MAX_PLAINTEXT_BYTES,
    Blob,
    blob_aad,
    build_blob,
    parse_blob,
    per_message_info,
    symmetric_cipher,
)
from openkms.domain.datakey import check_wrapping
from openkms.domain.key import Key
from openkms.service.asymmetric import AsymmetricService
from openkms.service.caches import Caches
from openkms.service.hsm_keys import is_hsm
from openkms.service.keys import KeyService
from openkms.service.tenancy import Scope
from openkms.store import keys

Context = Mapping[str, str]


@dataclass(frozen=True, slots=True)
class Sealed:
    """A new CiphertextBlob and the key version that made it."""

    key_id: str
    version_id: str
    blob: str


@dataclass(frozen=True, slots=True)
class Opened:
    key_id: str
    version_id: str
    plaintext: bytes


@dataclass(frozen=True, slots=True)
class AsymmetricSource:
    """ReEncrypt's asymmetric source: SourceKeyId, SourceKeyVersionId, SourceEncryptionAlgorithm."""

    key_id: str
    version_id: str
    algorithm: str


@dataclass(frozen=True, slots=True)
class Wrapping:
    """A caller's public key for ExportDataKey / GenerateAndExportDataKey."""

    public_key_blob: str
    key_spec: str
    algorithm: str


class SymmetricService:
    def __init__(
        self, keys_service: KeyService, asymmetric_service: AsymmetricService, caches: Caches
    ) -> None:
        self.keys = keys_service
        self.dep = keys_service.dep
        self.asymmetric = asymmetric_service
        self.caches = caches

    # -- the two halves every action is made of ----------------------------------------------------

    def encrypting_key(self, scope: Scope, key_ref: str, parameter: str = "KeyId") -> Key:
        """Resolve a KeyId that is to encrypt: a symmetric ENCRYPT/DECRYPT key in state Enabled.

        Raises:
            KeyNotFound, AliasNotFound: 404.
            UnsupportedOperation: not a symmetric encryption key (400).
            KeyStateError: Disabled / PendingDeletion / PendingImport (409).
        """
        key = self.keys.get(scope, key_ref, parameter)
        symmetric_cipher(key.key_spec, key.key_usage)
        keystate.require_usable(key.key_state)
        keystate.require_material_current(key.material_expire_time, self.dep.clock.now())
        return key

    def seal(self, key: Key, plaintext: bytes, context: Context) -> Sealed:
        """Encrypt under the key's primary version (a key checked by :func:`encrypting_key`)."""
        version_id = key.primary_version_id
        assert version_id is not None
        material = self.keys.material(key, version_id)
        aad = blob_aad(version_id, context)
        if is_hsm(key.protection_level):
            iv, sealed = self.keys.hsm.seal(version_id, material, plaintext, aad)
            return Sealed(key.key_id, version_id, build_blob(version_id, iv, sealed))
        iv, sealed = aead_blob.seal(
            symmetric_cipher(key.key_spec, key.key_usage),
            material,
            per_message_info(version_id, key.key_spec),
            plaintext,
            aad,
        )
        return Sealed(key.key_id, version_id, build_blob(version_id, iv, sealed))

    def decrypting_key(self, scope: Scope, text: str, parameter: str = "CiphertextBlob") -> tuple[Key, Blob]:
        """Find the key a blob names and check it may decrypt, before any cryptography.

        A version id nobody made is a bad blob (400); the version of a destroyed key is
        Forbidden.KeyNotFound (404), as for every other action on a deleted key; a key of
        another account is a cross-account use, which the scope admits or refuses (403).
        """
        parsed = parse_blob(text, parameter)
        db = self.dep.db
        exists, key = self.caches.reads.get(
            ("key of version", parsed.version_id),
            lambda: keys.of_version(db, parsed.version_id),
            keep=lambda found: found[0],  # a made-up version id is not kept
        )
        if not exists:
            raise errors.InvalidCiphertext(parameter)
        if key is None:
            self.caches.forget_version(parsed.version_id)
            raise errors.KeyNotFound()
        scope.admit(key.account_uid)
        try:
            symmetric_cipher(key.key_spec, key.key_usage)
        except errors.UnsupportedOperation:
            # Only a forged header can name an asymmetric key's version in a symmetric blob.
            raise errors.InvalidCiphertext(parameter) from None
        keystate.require_usable(key.key_state)
        keystate.require_material_current(key.material_expire_time, self.dep.clock.now())
        return key, parsed

    def open_blob(
        self, key: Key, parsed: Blob, context: Context, parameter: str = "CiphertextBlob"
    ) -> Opened:
        material = self.keys.material(key, parsed.version_id)
        aad = blob_aad(parsed.version_id, context)
        try:
            if is_hsm(key.protection_level):
                # The version's key is in the token (service/hsm_keys.py); ``material`` is its wrap.
                plaintext = self.keys.hsm.open(parsed.version_id, material, parsed.iv, parsed.sealed, aad)
            else:
                plaintext = aead_blob.open_(
                    symmetric_cipher(key.key_spec, key.key_usage),
                    material,
                    per_message_info(parsed.version_id, key.key_spec),
                    parsed.iv,
                    parsed.sealed,
                    aad,
                )
        except NotAuthentic:
            raise errors.InvalidCiphertext(parameter) from None
        return Opened(key.key_id, parsed.version_id, plaintext)

    @staticmethod
    def _dry_run(dry_run: bool) -> None:
        if dry_run:
            raise errors.DryRunSucceeded()

    # -- actions -------------------------------------------------------------------------------------

    def encrypt(
        self, scope: Scope, key_ref: str, plaintext: bytes, context: Context, *, dry_run: bool = False
    ) -> Sealed:
        key = self.encrypting_key(scope, key_ref)
        self._dry_run(dry_run)
        return self.seal(key, plaintext, context)

    def decrypt(self, scope: Scope, text: str, context: Context, *, dry_run: bool = False) -> Opened:
        key, parsed = self.decrypting_key(scope, text)
        self._dry_run(dry_run)
        return self.open_blob(key, parsed, context)

    def reencrypt(
        self,
        scope: Scope,
        text: str,
        source_context: Context,
        destination_ref: str,
        destination_context: Context,
        *,
        dry_run: bool = False,
    ) -> Sealed:
        """Decrypt a symmetric blob and encrypt its plaintext under the destination's primary version.

        The plaintext never leaves the process; the answer names the destination key.
        """
        source, parsed = self.decrypting_key(scope, text)
        destination = self.encrypting_key(scope, destination_ref, "DestinationKeyId")
        self._dry_run(dry_run)
        opened = self.open_blob(source, parsed, source_context)
        return self.seal(destination, opened.plaintext, destination_context)

    def reencrypt_from_asymmetric(
        self,
        scope: Scope,
        text: str,
        source: AsymmetricSource,
        destination_ref: str,
        destination_context: Context,
        *,
        dry_run: bool = False,
    ) -> Sealed:
        """Decrypt a public-key ciphertext (raw RSAES-OAEP or GM/T 0009 SM2, Base64) with the private
        key of ``source`` and seal the **Base64 text** of the recovered bytes under the destination's
        primary version.

        Base64, because the asymmetric side speaks raw bytes (AsymmetricDecrypt answers their
        Base64) while a blob holds text: the typical source is an ExportedDataKey wrapped for a KMS
        key, and sealing its Base64 makes the new blob a data-key blob like GenerateDataKey's, whose
        Decrypt answers the data key's Base64 and which ExportDataKey accepts.

        Every check of both sides runs before DryRun stops and before any decryption: the
        destination is a symmetric Enabled key; the source is an Enabled ENCRYPT/DECRYPT asymmetric
        key whose spec takes the algorithm and whose version is named.
        """
        try:
            ciphertext = base64.b64decode(text, validate=True)
        except (binascii.Error, ValueError):
            raise errors.InvalidCiphertext() from None
        destination = self.encrypting_key(scope, destination_ref, "DestinationKeyId")
        _, _, plaintext = self.asymmetric.decrypt(
            scope, source.key_id, source.version_id, source.algorithm, ciphertext, dry_run=dry_run
        )
        text_bytes = base64.b64encode(plaintext)
        if len(text_bytes) > MAX_PLAINTEXT_BYTES:
            # Only SM2PKE recovers that much (up to 6047 bytes); a longer blob could never be
            # decrypted, so refuse it here: at most 4608 bytes, whose Base64 is Encrypt's 6144.
            raise errors.InvalidValue(
                "CiphertextBlob",
                f"Its plaintext re-encrypts only up to {MAX_PLAINTEXT_BYTES // 4 * 3} bytes.",
            )
        return self.seal(destination, text_bytes, destination_context)

    def generate_data_key(
        self, scope: Scope, key_ref: str, length: int, context: Context, *, dry_run: bool = False
    ) -> tuple[Sealed, str]:
        """A random data key: its Base64 text, and a blob of that *text* (so that
        Decrypt(blob).Plaintext equals the Plaintext answered here, as on Alibaba)."""
        key = self.encrypting_key(scope, key_ref)
        self._dry_run(dry_run)
        text = base64.b64encode(os.urandom(length)).decode("ascii")
        return self.seal(key, text.encode("ascii"), context), text

    def generate_and_export_data_key(
        self,
        scope: Scope,
        key_ref: str,
        length: int,
        context: Context,
        wrap: Wrapping,
        *,
        dry_run: bool = False,
    ) -> tuple[Sealed, bytes]:
        """A data key returned twice, never in clear: as a blob, and wrapped under ``wrap``."""
        key = self.encrypting_key(scope, key_ref)
        wrapper = _Wrapper(wrap)
        wrapper.check_length(length, "NumberOfBytes")
        self._dry_run(dry_run)
        data_key = os.urandom(length)
        sealed = self.seal(key, base64.b64encode(data_key), context)
        return sealed, wrapper(data_key)

    def export_data_key(
        self, scope: Scope, text: str, context: Context, wrap: Wrapping, *, dry_run: bool = False
    ) -> tuple[Opened, bytes]:
        """Re-wrap the data key inside a blob under a public key. The raw key bytes are wrapped
        (the Base64 text inside the blob is decoded first): the receiver is an HSM or crypto
        module that imports keys, not text."""
        key, parsed = self.decrypting_key(scope, text)
        wrapper = _Wrapper(wrap)
        self._dry_run(dry_run)
        opened = self.open_blob(key, parsed, context)
        try:
            data_key = base64.b64decode(opened.plaintext, validate=True)
        except (binascii.Error, ValueError):
            data_key = b""
        if not data_key or base64.b64encode(data_key) != opened.plaintext:
            raise errors.InvalidValue("CiphertextBlob", "It does not hold a data key.")
        wrapper.check_length(len(data_key), "CiphertextBlob")
        return opened, wrapper(data_key)


class _Wrapper:
    """A caller's wrapping key, checked once before any data key is made or opened."""

    def __init__(self, wrap: Wrapping) -> None:
        check_wrapping(wrap.key_spec, wrap.algorithm)
        self._encrypt: Callable[[bytes], bytes]
        try:
            der = base64.b64decode("".join(wrap.public_key_blob.split()), validate=True)
            if wrap.algorithm == SM2PKE:
                self._encrypt = partial(wrapping.sm2_encrypt, wrapping.load_sm2_public(der))
            else:
                rsa_key = wrapping.load_rsa_public(der, 2048)
                self._encrypt = partial(wrapping.rsa_oaep_encrypt, rsa_key, wrap.algorithm)
        except (binascii.Error, ValueError):
            raise errors.InvalidValue(
                "PublicKeyBlob",
                f"It must be the Base64 DER SubjectPublicKeyInfo of an {wrap.key_spec} key.",
            ) from None
        self._algorithm = wrap.algorithm
        self._spec = wrap.key_spec
        if wrap.algorithm == SM2PKE:
            self.limit = SM2PKE_MAX_PLAINTEXT
        else:
            self.limit = wrapping.oaep_max_plaintext(2048, wrap.algorithm)

    def check_length(self, length: int, parameter: str) -> None:
        if length > self.limit:
            raise errors.InvalidValue(
                parameter, f"{self._algorithm} with {self._spec} wraps at most {self.limit} bytes."
            )

    def __call__(self, data_key: bytes) -> bytes:
        return self._encrypt(data_key)
