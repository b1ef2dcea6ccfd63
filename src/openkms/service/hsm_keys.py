"""ProtectionLevel=HSM keys: offered only on a deployment whose root of trust is the pkcs11
provider; their versions' material is made, kept wrapped and used inside the token
(rootkey/token_keys.py): AES keys for CiphertextBlobs, RSA and EC key pairs that sign (their
public keys verify in the process, as for any key).

Every version of an HSM key is an HSM version: the key's ``protection_level`` says which path a
blob of any of its versions takes. An HSM blob has the layout of every other blob
(domain/ciphertext.py) and the same associated data (:func:`~openkms.domain.ciphertext.blob_aad`),
but its body is AES-GCM computed in the token directly with the version's key: the material
never reaches the process, so no per-message key is derived from it.
"""

from __future__ import annotations

import os

from openkms.domain import errors
from openkms.domain.keyspec import ORIGIN_KMS, SIGN_VERIFY, KeySpec
from openkms.rootkey.pkcs11 import Pkcs11Unavailable
from openkms.rootkey.token_keys import (
    HSM_SPECS,
    NONCE_LEN,
    SYMMETRIC_SPECS,
    TokenKeys,
    TokenRefused,
    missing_mechanisms,
)
from openkms.service.deployment import Deployment
from openkms.service.token_root import open_token_keys

__all__ = ["HSM", "HsmKeys", "is_hsm"]

HSM = "HSM"


def is_hsm(protection_level: str) -> bool:
    return protection_level == HSM


class HsmKeys:
    """The deployment's token as the keeper of HSM key versions, opened on first use (never
    before a server forks its workers)."""

    def __init__(self, dep: Deployment) -> None:
        self.dep = dep
        self._token: TokenKeys | None = None

    @property
    def offered(self) -> bool:
        """Whether this deployment's root of trust is a token."""
        return self.dep.seal is not None and self.dep.seal.provider == "pkcs11"

    def token(self) -> TokenKeys:
        if not self.offered:
            raise errors.UnsupportedOperation(
                "ProtectionLevel HSM needs a PKCS#11 root of trust, which this deployment has not."
            )
        if self._token is None:
            try:
                self._token = open_token_keys(self.dep.settings)
            except Pkcs11Unavailable:
                raise errors.ServiceUnavailable() from None
        return self._token

    def check_spec(self, spec: KeySpec, usage: str, origin: str) -> None:
        """Refuse, before anything is made, an HSM key the token cannot keep: decided from the
        token's mechanism list.

        Raises:
            UnsupportedOperation: no token root, an origin other than Aliyun_KMS, a spec of
                which openkms makes no HSM keys, a key pair that would not sign, or mechanisms
                the token lacks (named).
        """
        token = self.token()
        if origin != ORIGIN_KMS:
            raise errors.UnsupportedOperation("ProtectionLevel HSM keys are made with Origin Aliyun_KMS.")
        if spec.name not in SYMMETRIC_SPECS and spec.name in HSM_SPECS and usage != SIGN_VERIFY:
            raise errors.UnsupportedOperation(
                f"ProtectionLevel HSM {spec.name} keys are made with KeyUsage SIGN/VERIFY."
            )
        try:
            missing = missing_mechanisms(spec.name, token.mechanisms())
        except Pkcs11Unavailable:
            raise errors.ServiceUnavailable() from None
        if missing is None:
            raise errors.UnsupportedOperation(
                f"ProtectionLevel HSM is offered for the key specs {', '.join(HSM_SPECS)}; "
                f"not for {spec.name}."
            )
        if missing:
            raise errors.UnsupportedOperation(
                f"The HSM of this deployment cannot keep {spec.name} keys: its mechanism list "
                f"lacks {', '.join(missing)}."
            )

    def generate(self, spec: KeySpec) -> tuple[bytes, bytes | None]:
        """A new version's key, made in the token; only its wrap is returned (and a key
        pair's public key DER)."""
        try:
            return self.token().generate(spec.name)
        except (Pkcs11Unavailable, TokenRefused):
            # No token, or one whose master key or answers cannot be trusted: nothing is made.
            raise errors.ServiceUnavailable() from None

    def seal(self, version_id: str, wrapped: bytes, plaintext: bytes, aad: bytes) -> tuple[bytes, bytes]:
        """``(iv, ciphertext || tag)`` under a fresh random IV, computed in the token."""
        iv = os.urandom(NONCE_LEN)
        try:
            return iv, self.token().seal(version_id, wrapped, iv, plaintext, aad)
        except TokenRefused:
            raise errors.KeyMaterialUnavailable() from None
        except Pkcs11Unavailable:
            raise errors.ServiceUnavailable() from None

    def sign(self, version_id: str, wrapped: bytes, key_spec: str, algorithm: str, digest: bytes) -> bytes:
        """A signature made in the token (the algorithm checked against the spec already)."""
        try:
            return self.token().sign(version_id, wrapped, key_spec, algorithm, digest)
        except TokenRefused:
            raise errors.KeyMaterialUnavailable() from None
        except Pkcs11Unavailable:
            raise errors.ServiceUnavailable() from None

    def open(self, version_id: str, wrapped: bytes, iv: bytes, sealed: bytes, aad: bytes) -> bytes:
        """Raises NotAuthentic for a blob that does not authenticate."""
        try:
            return self.token().open(version_id, wrapped, iv, sealed, aad)
        except TokenRefused:
            raise errors.KeyMaterialUnavailable() from None
        except Pkcs11Unavailable:
            raise errors.ServiceUnavailable() from None
