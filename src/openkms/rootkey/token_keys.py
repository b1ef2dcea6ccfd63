"""Key material of ProtectionLevel=HSM key versions, kept by a PKCS#11 token (rootkey/pkcs11.py).

A version's AES key is generated in the token as a session object (``SENSITIVE``, extractable
only so that it can be wrapped once), wrapped there with ``CKM_AES_KEY_WRAP_PAD`` (RFC 5649)
under the token's master key, and destroyed. What leaves the token, and what the database
stores (under a KEK as well, like every version's material), is::

    master key CKA_ID (16 bytes) || RFC 5649 wrap of the version's key

On use the wrap is unwrapped into the token as a session object that is ``SENSITIVE`` and not
``EXTRACTABLE`` (its value can be neither read nor wrapped out), and AES-GCM runs inside the
token with that object. Its handle is kept per process and version in a bounded LRU; an evicted
object is destroyed, so the token holds at most :data:`MAX_HELD` of them per process.

The master key is an AES-256 token object labelled :data:`MASTER_LABEL`, usable only to wrap
and unwrap. It is made at ``openkms init`` (or by the first process that needs one). The
wrap names its master key by id, so two processes that both made one at the same moment
leave two masters and every wrap still opens; new wraps use the one of the lowest id.

Every call holds the process's token lock (rootkey/pkcs11.py, "PKCS#11 discipline").
"""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import Iterable
from typing import Any

from openkms.crypto import aead
from openkms.rootkey.pkcs11 import ID_LEN, TokenHold, holding, library

__all__ = [
    "MASTER_LABEL",
    "MAX_HELD",
    "NONCE_LEN",
    "TAG_LEN",
    "TokenKeys",
    "TokenRefused",
    "missing_mechanisms",
]

MASTER_LABEL = "openkms-hsm-master-v1"
MAX_HELD = 256
NONCE_LEN = 12
TAG_LEN = 16
_MIN_WRAP = ID_LEN + 24  # an RFC 5649 wrap of 16 bytes is 24 bytes

# What a spec's HSM keys need of the token: generate, wrap and unwrap, and AES-GCM. Only the
# AES specs are made in a token (key bytes); whether a token can is read from its mechanism
# list (C_GetMechanismList), never assumed.
_AES_NEEDS = ("AES_KEY_GEN", "AES_KEY_WRAP_PAD", "AES_GCM")
_KEY_BYTES = {"Aliyun_AES_256": 32, "Aliyun_AES_192": 24, "Aliyun_AES_128": 16}
HSM_SPECS = tuple(_KEY_BYTES)


class TokenRefused(Exception):
    """The token refused an operation on key material (a wrap that does not open, a bad tag);
    the caller maps it to its own error. The message holds no key material."""


def missing_mechanisms(key_spec: str, offered: Iterable[int]) -> list[str] | None:
    """The ``CKM_`` names a token lacks to keep HSM keys of ``key_spec`` (empty: none), or
    None when openkms makes no HSM keys of that spec."""
    if key_spec not in _KEY_BYTES:
        return None
    p11 = library()
    have = set(offered)
    return [f"CKM_{name}" for name in _AES_NEEDS if int(p11.Mechanism[name]) not in have]


class TokenKeys:
    """HSM key versions on the token ``token_label`` of ``module``."""

    def __init__(self, module: str, token_label: str, pin: str, *, max_held: int = MAX_HELD) -> None:
        self._module = module
        self._token_label = token_label
        self._pin = pin
        self._max_held = max_held

    def _hold(self) -> contextlib.AbstractContextManager[TokenHold]:
        return holding(self._module, self._token_label, self._pin)

    def mechanisms(self) -> frozenset[int]:
        """The token's mechanism list, read once per process."""
        where = (self._module, self._token_label)
        with self._hold() as hold:
            found = hold.proc.mechanisms.get(where)
            if found is None:
                found = frozenset(int(m) for m in hold.session.token.slot.get_mechanisms())
                hold.proc.mechanisms[where] = found
            return found

    # -- the master key ----------------------------------------------------------------------

    def ensure_master(self) -> None:
        """Make the master key when the token has none (``openkms init``)."""
        with self._hold() as hold:
            self._master(hold, None)

    def _masters(self, hold: TokenHold) -> list[Any]:
        p11 = library()
        return list(
            hold.session.get_objects(
                {
                    p11.Attribute.CLASS: p11.ObjectClass.SECRET_KEY,
                    p11.Attribute.KEY_TYPE: p11.KeyType.AES,
                    p11.Attribute.LABEL: MASTER_LABEL,
                    p11.Attribute.TOKEN: True,
                }
            )
        )

    def _master(self, hold: TokenHold, key_id: bytes | None) -> Any:
        """The master key of id ``key_id``, else the one new wraps use (made if there is none).
        Handles are cached by id (lookups are linear in the token's size)."""
        p11 = library()
        cache = hold.proc.keys
        slot = (self._module, self._token_label, MASTER_LABEL + "|" + (key_id or b"").hex())
        found = cache.get(slot)
        if found is not None:
            return found
        masters = {bytes(m[p11.Attribute.ID]): m for m in self._masters(hold)}
        if key_id is not None:
            found = masters.get(key_id)
            if found is None:
                raise TokenRefused("the master key of this HSM key is not on the token")
        elif masters:
            found = masters[min(masters)]
        else:
            found = self._generate_master(hold.session)
        if found[p11.Attribute.EXTRACTABLE] or not found[p11.Attribute.SENSITIVE]:
            raise TokenRefused("the token's HSM master key is extractable or not sensitive")
        cache[slot] = found
        return found

    @staticmethod
    def _generate_master(session: Any) -> Any:
        p11 = library()
        flags = p11.MechanismFlag
        attr = p11.Attribute
        return session.generate_key(
            p11.KeyType.AES,
            256,
            label=MASTER_LABEL,
            id=secrets.token_bytes(ID_LEN),
            store=True,
            capabilities=flags.WRAP | flags.UNWRAP,
            template={
                attr.EXTRACTABLE: False,
                attr.SENSITIVE: True,
                attr.ENCRYPT: False,
                attr.DECRYPT: False,
                attr.SIGN: False,
                attr.VERIFY: False,
                attr.DERIVE: False,
                attr.TOKEN: True,
                attr.PRIVATE: True,
            },
        )

    # -- versions ------------------------------------------------------------------------------

    def generate(self, key_spec: str) -> bytes:
        """A new version's key, made in the token and returned only wrapped (see the module)."""
        length = _KEY_BYTES[key_spec]
        p11 = library()
        attr = p11.Attribute
        with self._hold() as hold:
            master = self._master(hold, None)
            made = hold.session.generate_key(
                p11.KeyType.AES,
                length * 8,
                store=False,
                capabilities=p11.MechanismFlag(0),
                template={
                    attr.TOKEN: False,
                    attr.SENSITIVE: True,
                    attr.EXTRACTABLE: True,
                    attr.ENCRYPT: False,
                    attr.DECRYPT: False,
                    attr.WRAP: False,
                    attr.UNWRAP: False,
                    attr.SIGN: False,
                    attr.VERIFY: False,
                    attr.DERIVE: False,
                },
            )
            try:
                wrapped = master.wrap_key(made, mechanism=p11.Mechanism.AES_KEY_WRAP_PAD)
            finally:
                made.destroy()
            return bytes(master[attr.ID]) + bytes(wrapped)

    def _held(self, hold: TokenHold, version_id: str, wrapped: bytes) -> Any:
        """The version's key unwrapped into the token, from the LRU or unwrapped now (the
        least recently used object is destroyed when the LRU is full)."""
        objects = hold.proc.objects
        slot = (self._module, self._token_label, version_id)
        found = objects.get(slot)
        if found is not None:
            objects.move_to_end(slot)
            return found
        if len(wrapped) < _MIN_WRAP:
            raise TokenRefused("the HSM key's wrap is too short")
        p11 = library()
        attr = p11.Attribute
        master = self._master(hold, wrapped[:ID_LEN])
        try:
            found = master.unwrap_key(
                p11.ObjectClass.SECRET_KEY,
                p11.KeyType.AES,
                wrapped[ID_LEN:],
                mechanism=p11.Mechanism.AES_KEY_WRAP_PAD,
                store=False,
                capabilities=p11.MechanismFlag.ENCRYPT | p11.MechanismFlag.DECRYPT,
                template={
                    attr.TOKEN: False,
                    attr.SENSITIVE: True,
                    attr.EXTRACTABLE: False,
                    attr.WRAP: False,
                    attr.UNWRAP: False,
                    attr.SIGN: False,
                    attr.VERIFY: False,
                    attr.DERIVE: False,
                },
            )
        except p11.PKCS11Error:
            raise TokenRefused("the HSM key's wrap does not open under the token's master key") from None
        objects[slot] = found
        while len(objects) > self._max_held:
            _, evicted = objects.popitem(last=False)
            with contextlib.suppress(p11.PKCS11Error):  # gone already: nothing left to destroy
                evicted.destroy()
        return found

    def seal(self, version_id: str, wrapped: bytes, nonce: bytes, plaintext: bytes, aad: bytes) -> bytes:
        """AES-GCM in the token under the version's key: ``ciphertext || tag``."""
        p11 = library()
        with self._hold() as hold:
            key = self._held(hold, version_id, wrapped)
            return bytes(
                key.encrypt(
                    plaintext,
                    mechanism=p11.Mechanism.AES_GCM,
                    mechanism_param=p11.GCMParams(nonce, aad, TAG_LEN * 8),
                )
            )

    def open(self, version_id: str, wrapped: bytes, nonce: bytes, sealed: bytes, aad: bytes) -> bytes:
        """Decrypt and authenticate ``ciphertext || tag`` in the token.

        Raises:
            aead.NotAuthentic: the tag does not match (SoftHSM2 reports it as
                CKR_GENERAL_ERROR, so every refusal of the decryption maps here).
            TokenRefused: the version's wrap does not open.
        """
        if len(nonce) != NONCE_LEN or len(sealed) < TAG_LEN:
            raise aead.NotAuthentic("the ciphertext is too short")
        p11 = library()
        with self._hold() as hold:
            key = self._held(hold, version_id, wrapped)
            try:
                return bytes(
                    key.decrypt(
                        sealed,
                        mechanism=p11.Mechanism.AES_GCM,
                        mechanism_param=p11.GCMParams(nonce, aad, TAG_LEN * 8),
                    )
                )
            except p11.PKCS11Error:
                raise aead.NotAuthentic("the ciphertext does not authenticate") from None

    def held_object(self, version_id: str) -> Any:
        """The session object this process holds for a version, or None (for checks of its
        attributes: it must refuse to be read or wrapped out)."""
        with self._hold() as hold:
            return hold.proc.objects.get((self._module, self._token_label, version_id))

    def __repr__(self) -> str:
        return f"TokenKeys(token={self._token_label!r})"
