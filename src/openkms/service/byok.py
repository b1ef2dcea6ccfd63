"""Bring your own key: GetParametersForImport, ImportKeyMaterial, DeleteKeyMaterial, and the
expiry of imported material.

* A token names one key. Its wrapping private key is generated per call and stored only wrapped
  under the KEK, with associated data naming the token, the key, the algorithm and the expiry.
* An import is one write transaction: the key is re-read, its state moved, the material wrapped
  under the current KEK and its keyed digest written, over an unchanged key revision.
* The first material a key takes binds it: ``key_versions.material_digest`` keeps an HMAC of the
  material under a KEK-derived key (never a plain hash), and survives DeleteKeyMaterial and
  expiry, so the key only ever takes the same material again and its old ciphertexts decrypt.
* An import that fails on the material (does not unwrap, wrong length, not the material the key
  had) burns its token. A caller holding a captured wrapped material and its token therefore
  gets one guess, not the millions a padding oracle needs.
"""

from __future__ import annotations

import base64
import binascii
import secrets
from collections.abc import Callable
from dataclasses import dataclass

from openkms.crypto import aead, keyed, unwrap
from openkms.domain import byok, errors, keystate
from openkms.domain.audit import Report
from openkms.domain.key import Key
from openkms.rootkey.keyring import import_key_aad, material_aad
from openkms.service.caches import Caches
from openkms.service.due import each_due
from openkms.service.keys import KeyService
from openkms.service.tenancy import Scope
from openkms.store import Tx, keys, versions
from openkms.store import byok as tokens

DIGEST_LABEL = b"openkms/material-digest/v1"
DIGEST_FORMAT = "v1"
MAX_TOKEN_CHARS = 128


@dataclass(frozen=True, slots=True)
class ImportParameters:
    """What GetParametersForImport answers."""

    key_id: str
    public_key: bytes  # DER SubjectPublicKeyInfo
    token: str
    expires_at: float


class ByokService:
    def __init__(self, keys_service: KeyService, caches: Caches) -> None:
        self.keys = keys_service
        self.dep = keys_service.dep
        self.caches = caches

    def get_parameters_for_import(
        self, scope: Scope, key_ref: str, wrapping_key_spec: str, wrapping_algorithm: str
    ) -> ImportParameters:
        """A fresh wrapping key pair (RSA_2048 or EC_SM2) and a token for one EXTERNAL key, valid for
        24 hours.

        Any state will do (Alibaba's matrix allows the call in every state).

        Raises:
            InvalidValue: the wrapping algorithm does not go with the spec (see domain.byok).
            KeyNotFound, AliasNotFound: 404.
            UnsupportedOrigin: not an EXTERNAL key.
        """
        byok.check_wrapping(wrapping_key_spec, wrapping_algorithm)
        key = self.keys.get(scope, key_ref)
        byok.require_external(key.origin)
        private_der, public_der = unwrap.new_wrapping_key(wrapping_key_spec)
        token = secrets.token_urlsafe(48)
        expires_at = byok.token_expiry(self.dep.clock.now())
        keyring = self.dep.keyring
        kek_version, wrapped = keyring.wrap(
            private_der,
            import_key_aad(
                token, key.key_id, wrapping_key_spec, wrapping_algorithm, int(expires_at), keyring.current
            ),
        )
        with self.dep.db.write() as tx:
            # Re-read under the write lock: a key destroyed meanwhile gets no token.
            if keys.get(tx, key.key_id) is None:
                raise errors.KeyNotFound()
            tokens.insert_token(
                tx,
                tokens.ImportToken(
                    token=token,
                    key_id=key.key_id,
                    wrapping_key_spec=wrapping_key_spec,
                    wrapping_algorithm=wrapping_algorithm,
                    private_wrapped=wrapped,
                    kek_version=kek_version,
                    public_key_der=public_der,
                    expires_at=expires_at,
                ),
            )
        return ImportParameters(key.key_id, public_der, token, expires_at)

    def import_key_material(
        self, scope: Scope, key_ref: str, encrypted_key_material: str, import_token: str, expire_unix: int
    ) -> Key:
        """Unwrap material with the token's private key and give it to the key.

        Checks, in order: KeyMaterialExpireUnix, the key (404), its origin, its state
        (PendingDeletion: 409), the token (unknown or another key's: InvalidImportToken; expired:
        ExpiredImportToken), then the material (InvalidKeyMaterial, which burns the token).

        Returns:
            The key after the import: Enabled if it was PendingImport, else in its former state;
            MaterialExpireTime set (None for ``expire_unix == 0``).
        """
        now = self.dep.clock.now()
        expire_time = byok.material_expiry(expire_unix, now)
        try:
            wrapped_material = base64.b64decode("".join(encrypted_key_material.split()), validate=True)
        except (binascii.Error, ValueError):
            raise errors.InvalidValue("EncryptedKeyMaterial", "It must be Base64.") from None
        try:
            return self._import(scope, key_ref, wrapped_material, import_token, expire_time, now)
        except errors.InvalidKeyMaterial:
            with self.dep.db.write() as tx:
                tokens.delete_token(tx, import_token)
            raise

    def _import(
        self,
        scope: Scope,
        key_ref: str,
        wrapped_material: bytes,
        import_token: str,
        expire_time: float | None,
        now: float,
    ) -> Key:
        keyring = self.dep.keyring
        with self.dep.db.write() as tx:
            key = self.keys.load(tx, scope, key_ref)
            byok.require_external(key.origin)
            new_state = keystate.import_material(key.key_state)
            token = self._valid_token(tx, key, import_token, now)
            material = self._unwrap_material(key, token, wrapped_material)
            version_id = key.primary_version_id
            assert version_id is not None
            self._require_same_material(tx, key, version_id, material)
            kek_version, wrapped = keyring.wrap(
                material, material_aad(key.key_id, version_id, key.key_spec, keyring.current)
            )
            versions.set_material(
                tx,
                version_id,
                kek_version=kek_version,
                wrapped=wrapped,
                digest=self._digest(key, material),
            )
            if not keys.update_key(
                tx,
                key.key_id,
                expected_revision=key.revision,
                key_state=new_state,
                material_expire_time=expire_time,
            ):
                raise errors.StateTransitionRefused()
            changed = keys.get(tx, key.key_id)
        assert changed is not None
        return changed

    def _valid_token(self, tx: Tx, key: Key, import_token: str, now: float) -> tokens.ImportToken:
        token = tokens.get_token(tx, import_token) if len(import_token) <= MAX_TOKEN_CHARS else None
        if token is None or token.key_id != key.key_id:
            raise errors.InvalidImportToken()
        if byok.token_expired(token.expires_at, now):
            raise errors.ExpiredImportToken()
        return token

    def _unwrap_material(self, key: Key, token: tokens.ImportToken, wrapped_material: bytes) -> bytes:
        try:
            private_der = self.dep.keyring.unwrap(
                token.kek_version,
                token.private_wrapped,
                import_key_aad(
                    token.token,
                    key.key_id,
                    token.wrapping_key_spec,
                    token.wrapping_algorithm,
                    int(token.expires_at),
                    token.kek_version,
                ),
            )
        except aead.NotAuthentic:
            # A token row that does not authenticate (moved to another key, its expiry changed) was
            # not issued as it stands.
            raise errors.InvalidImportToken() from None
        try:
            material = unwrap.unwrap(private_der, token.wrapping_algorithm, wrapped_material)
        except unwrap.UnwrapFailed:
            raise errors.InvalidKeyMaterial() from None
        byok.check_material(key.key_spec, material)
        return material

    @staticmethod
    def _digest_input(key: Key, material: bytes) -> bytes:
        # Naming the key keeps digests of one material in two keys apart: the database does not
        # tell which keys share material.
        return f"{key.key_id}|{key.key_spec}|".encode() + material

    def _digest(self, key: Key, material: bytes) -> str:
        kek_version, digest = self.dep.keyring.digest(DIGEST_LABEL, self._digest_input(key, material))
        return f"{DIGEST_FORMAT}:{kek_version}:{digest.hex()}"

    def _require_same_material(self, tx: Tx, key: Key, version_id: str, material: bytes) -> None:
        stored = versions.material_digest(tx, version_id)
        if stored is None:
            return  # the key's first material
        try:
            label, kek_text, digest_hex = stored.split(":")
            if label != DIGEST_FORMAT:
                raise ValueError(label)
            self.dep.keyring.verify_digest(
                int(kek_text), DIGEST_LABEL, self._digest_input(key, material), bytes.fromhex(digest_hex)
            )
        except (ValueError, keyed.DigestMismatch):
            raise errors.InvalidKeyMaterial() from None

    def delete_key_material(self, scope: Scope, key_ref: str) -> Key:
        """Delete an EXTERNAL key's material: the key goes to PendingImport (a key pending deletion
        keeps its state and DeleteDate). Deleting again, or before any import, changes nothing more.

        The material's digest stays, so the key can take back only the same material.
        """
        with self.dep.db.write() as tx:
            key = self.keys.load(tx, scope, key_ref)
            byok.require_external(key.origin)
            version_ids = versions.clear_material(tx, key.key_id)
            if not keys.update_key(
                tx,
                key.key_id,
                expected_revision=key.revision,
                key_state=keystate.delete_material(key.key_state),
                material_expire_time=None,
            ):
                raise errors.StateTransitionRefused()
            changed = keys.get(tx, key.key_id)
        for version_id in version_ids:
            self.caches.forget_version(version_id)
        assert changed is not None
        return changed

    def expire_due_material(
        self, now: float, fence: Callable[[Tx], None], batch: int = 100, report: Report | None = None
    ) -> int:
        """Delete the material of every key whose MaterialExpireTime has passed by ``now``, exactly as
        DeleteKeyMaterial does; returns how many keys. One key per transaction, each re-checked under
        the write lock and fenced by the job lease; idempotent.
        """

        cleared: dict[str, list[str]] = {}
        owners: dict[str, str] = {}

        def expire(tx: Tx, key_id: str) -> bool:
            key = keys.get(tx, key_id, lock=True)
            # A re-import may have set a new expiry (or none) since the batch was read.
            if key is None or not byok.material_expired(key.material_expire_time, now):
                return False
            cleared[key_id] = versions.clear_material(tx, key_id)
            owners[key_id] = key.account_uid
            keys.update_key(
                tx, key_id, key_state=keystate.delete_material(key.key_state), material_expire_time=None
            )
            return True

        def forget(key_id: str) -> None:
            gone = cleared.pop(key_id)
            for version_id in gone:
                self.caches.forget_version(version_id)
            if report is not None:
                refs = {"ACS::KMS::Key": [key_id], "ACS::KMS::KeyVersion": gone}
                report("ExpireKeyMaterial", owners.pop(key_id), refs)

        def due(tx: Tx) -> list[str]:
            return keys.with_expired_material(tx, now, batch)

        return each_due(self.dep.db, due, expire, fence, batch, after=forget)

    def prune_import_tokens(self, now: float) -> int:
        """Delete import tokens that expired more than a week ago (until then a caller is told
        ExpiredImportToken rather than InvalidImportToken). Idempotent; needs no fence."""
        with self.dep.db.write() as tx:
            return tokens.prune_tokens(tx, now - byok.TOKEN_KEPT_AFTER_EXPIRY)
