"""Asymmetric and MAC use cases: AsymmetricSign/Verify/Encrypt/Decrypt, GetPublicKey,
GenerateMac/VerifyMac.

Each operation reads the key and the named version in one read transaction and applies the same
rules in the same order: the key exists (404), it is Enabled (409 Rejected.<State>), its usage
fits the operation (400 Rejected.UnsupportedOperation), the algorithm fits its spec (400
InvalidParameter), the version belongs to it (404 Forbidden.KeyVersionNotFound), the input fits
(digest length, plaintext limit). DryRun stops there (DryRunOperationError). Only then is
material unwrapped.

Parsed keys are kept in ``caches.parsed_keys`` by version id, like the raw material: a version's
material never changes; key *state* comes from :meth:`KeyService.get` (service/caches.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from openkms.crypto import asymmetric, mac
from openkms.domain import algorithms, errors, keystate
from openkms.domain.key import Key
from openkms.domain.keyspec import ENCRYPT_DECRYPT, GENERATE_VERIFY_MAC, SIGN_VERIFY, SPECS, KeySpec
from openkms.service.caches import Caches
from openkms.service.hsm_keys import is_hsm
from openkms.service.keys import KeyService
from openkms.service.tenancy import Scope
from openkms.store import versions


@dataclass(frozen=True, slots=True)
class _Target:
    key: Key
    spec: KeySpec
    version_id: str
    public_der: bytes | None


class AsymmetricService:
    def __init__(self, keys_service: KeyService, caches: Caches) -> None:
        self.keys = keys_service
        self.dep = keys_service.dep
        self._parsed = caches.parsed_keys

    # -- rules ----------------------------------------------------------------------------

    def _target(
        self, scope: Scope, key_ref: str, version_id: str | None, usage: str, algorithm: str
    ) -> _Target:
        # Two one-statement reads on the store's hot path (KeyService.get), not a read
        # transaction: a version row never changes but for losing its material, which the
        # material read that follows for a private-key operation sees.
        key = self.keys.get(scope, key_ref)
        keystate.require_usable(key.key_state)
        spec = SPECS[key.key_spec]
        algorithms.require_usage(spec, key.key_usage, usage)
        algorithms.check_algorithm(spec, usage, algorithm)
        vid = version_id if version_id is not None else key.primary_version_id
        row = versions.public_key(self.dep.db, vid) if vid else None
        if row is None or row[0] != key.key_id:
            raise errors.KeyVersionNotFound()
        assert vid is not None
        return _Target(key, spec, vid, row[1])

    # -- parsed-key cache -----------------------------------------------------------------

    def _cached(self, kind: str, version_id: str) -> Any:
        return self._parsed.get((kind, version_id))

    def _remember(self, kind: str, version_id: str, value: Any) -> None:
        self._parsed.put((kind, version_id), value)

    def _private(self, t: _Target) -> asymmetric.PrivateKey:
        key = self._cached("private", t.version_id)
        if key is None:
            key = asymmetric.load_private(t.spec.kind, self.keys.material(t.key, t.version_id))
            self._remember("private", t.version_id, key)
        return key  # type: ignore[no-any-return]

    def _public(self, t: _Target) -> asymmetric.PublicKey:
        key = self._cached("public", t.version_id)
        if key is None:
            if t.public_der is None:  # pragma: no cover - every asymmetric version has one
                raise RuntimeError(f"version {t.version_id} has no public key")
            key = asymmetric.load_public(t.spec.kind, t.public_der)
            self._remember("public", t.version_id, key)
        return key  # type: ignore[no-any-return]

    # -- operations -----------------------------------------------------------------------

    def sign(
        self,
        scope: Scope,
        key_ref: str,
        version_id: str,
        algorithm: str,
        digest: bytes,
        *,
        dry_run: bool = False,
    ) -> tuple[Key, str, bytes]:
        t = self._target(scope, key_ref, version_id, SIGN_VERIFY, algorithm)
        _check_digest(digest)
        _dry_run(dry_run)
        if is_hsm(t.key.protection_level):
            # The private key is in the token (service/hsm_keys.py); the material is its wrap.
            wrapped = self.keys.material(t.key, t.version_id)
            signature = self.keys.hsm.sign(t.version_id, wrapped, t.spec.name, algorithm, digest)
            return t.key, t.version_id, signature
        return t.key, t.version_id, asymmetric.sign(self._private(t), algorithm, digest)

    def verify(
        self,
        scope: Scope,
        key_ref: str,
        version_id: str,
        algorithm: str,
        digest: bytes,
        signature: bytes,
        *,
        dry_run: bool = False,
    ) -> tuple[Key, str, bool]:
        t = self._target(scope, key_ref, version_id, SIGN_VERIFY, algorithm)
        _check_digest(digest)
        _dry_run(dry_run)
        return t.key, t.version_id, asymmetric.verify(self._public(t), algorithm, digest, signature)

    def encrypt(
        self,
        scope: Scope,
        key_ref: str,
        version_id: str,
        algorithm: str,
        plaintext: bytes,
        *,
        dry_run: bool = False,
    ) -> tuple[Key, str, bytes]:
        t = self._target(scope, key_ref, version_id, ENCRYPT_DECRYPT, algorithm)
        limit = algorithms.max_plaintext(t.spec, algorithm)
        if len(plaintext) > limit:
            raise errors.InvalidValue(
                "Plaintext", f"{t.spec.name} with {algorithm} encrypts at most {limit} bytes."
            )
        _dry_run(dry_run)
        return t.key, t.version_id, asymmetric.encrypt(self._public(t), algorithm, plaintext)

    def decrypt(
        self,
        scope: Scope,
        key_ref: str,
        version_id: str,
        algorithm: str,
        ciphertext: bytes,
        *,
        dry_run: bool = False,
    ) -> tuple[Key, str, bytes]:
        t = self._target(scope, key_ref, version_id, ENCRYPT_DECRYPT, algorithm)
        _dry_run(dry_run)
        try:
            plaintext = asymmetric.decrypt(self._private(t), algorithm, ciphertext)
        except asymmetric.DecryptError:
            raise errors.InvalidCiphertext() from None
        return t.key, t.version_id, plaintext

    def public_key_pem(
        self, scope: Scope, key_ref: str, version_id: str, *, dry_run: bool = False
    ) -> tuple[Key, str, str]:
        """GetPublicKey: any asymmetric key, of either usage, that may be used (Enabled)."""
        with self.dep.db.read() as tx:
            key = self.keys.load(tx, scope, key_ref)
            keystate.require_usable(key.key_state)
            spec = SPECS[key.key_spec]
            row = versions.public_key(tx, version_id)
        if not (algorithms.sign_algorithms(spec) or algorithms.encrypt_algorithms(spec)):
            raise errors.UnsupportedOperation(f"{spec.name} keys have no public key.")
        if row is None or row[0] != key.key_id or row[1] is None:
            raise errors.KeyVersionNotFound()
        _dry_run(dry_run)
        return key, version_id, asymmetric.public_pem(row[1])

    def generate_mac(
        self, scope: Scope, key_ref: str, algorithm: str, message: bytes, *, dry_run: bool = False
    ) -> tuple[Key, bytes]:
        t = self._target(scope, key_ref, None, GENERATE_VERIFY_MAC, algorithm)
        _dry_run(dry_run)
        return t.key, mac.generate(algorithm, self.keys.material(t.key, t.version_id), message)

    def verify_mac(
        self, scope: Scope, key_ref: str, algorithm: str, message: bytes, tag: bytes, *, dry_run: bool = False
    ) -> tuple[Key, bool]:
        t = self._target(scope, key_ref, None, GENERATE_VERIFY_MAC, algorithm)
        _dry_run(dry_run)
        return t.key, mac.verify(algorithm, self.keys.material(t.key, t.version_id), message, tag)


def _dry_run(dry_run: bool) -> None:
    """DryRun=true: every check passed; Alibaba answers DryRunOperationError and does nothing."""
    if dry_run:
        raise errors.DryRunSucceeded()


def _check_digest(digest: bytes) -> None:
    if len(digest) != algorithms.DIGEST_LEN:
        raise errors.InvalidValue(
            "Digest", f"It must be the Base64 of a {algorithms.DIGEST_LEN}-byte digest."
        )
