"""Key material of ProtectionLevel=HSM key versions, kept by a PKCS#11 token (rootkey/pkcs11.py).

A version's AES key, or its RSA or EC private key, is generated in the token as a session
object (``SENSITIVE``, extractable only so that it can be wrapped once), wrapped there with
``CKM_AES_KEY_WRAP_PAD`` (RFC 5649) under the token's master key, and destroyed. What leaves the
token, and what the database stores (under a KEK as well, like every version's material), is::

    master key CKA_ID (16 bytes) || RFC 5649 wrap of the version's key

with, for a key pair, the public key's SubjectPublicKeyInfo beside it. On use the wrap is
unwrapped into the token as a session object that is ``SENSITIVE`` and not ``EXTRACTABLE`` (its
value can be neither read nor wrapped out), and AES-GCM or the signature runs inside the token
with that object. Its handle is kept per process and version in a bounded LRU; an evicted
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

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from openkms.crypto import aead
from openkms.rootkey.pkcs11 import ID_LEN, TokenHold, holding, library

__all__ = [
    "HSM_SPECS",
    "MASTER_LABEL",
    "MAX_HELD",
    "NONCE_LEN",
    "SYMMETRIC_SPECS",
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

# What a spec's HSM keys need of the token: generate, wrap and unwrap under the master key, and
# the one operation openkms runs with them there (AES-GCM; RSA PKCS#1 v1.5 and PSS signatures
# over a digest; raw ECDSA over a digest). Whether a token can is read from its mechanism list
# (C_GetMechanismList), never assumed. SM2 and SM4 have no PKCS#11 mechanism openkms uses.
_AES_NEEDS = ("AES_KEY_GEN", "AES_KEY_WRAP_PAD", "AES_GCM")
_RSA_NEEDS = ("RSA_PKCS_KEY_PAIR_GEN", "RSA_PKCS", "RSA_PKCS_PSS", "AES_KEY_WRAP_PAD")
_EC_NEEDS = ("EC_KEY_PAIR_GEN", "ECDSA", "AES_KEY_WRAP_PAD")
_KEY_BYTES = {"Aliyun_AES_256": 32, "Aliyun_AES_192": 24, "Aliyun_AES_128": 16}
_RSA_BITS = {"RSA_2048": 2048, "RSA_3072": 3072, "RSA_4096": 4096}
_EC_CURVES = {"EC_P256": ("secp256r1", ec.SECP256R1()), "EC_P256K": ("secp256k1", ec.SECP256K1())}
_NEEDS = {
    **{spec: _AES_NEEDS for spec in _KEY_BYTES},
    **{spec: _RSA_NEEDS for spec in _RSA_BITS},
    **{spec: _EC_NEEDS for spec in _EC_CURVES},
}
HSM_SPECS = tuple(_NEEDS)
# Symmetric specs an HSM key may have; the others are SIGN/VERIFY key pairs.
SYMMETRIC_SPECS = tuple(_KEY_BYTES)
# The DER DigestInfo prefix of a SHA-256 digest (RFC 8017 section 9.2): CKM_RSA_PKCS signs it.
_SHA256_DIGEST_INFO = bytes.fromhex("3031300d060960864801650304020105000420")
_PSS_SALT_LEN = 32


class TokenRefused(Exception):
    """The token refused an operation on key material (a wrap that does not open, a bad tag);
    the caller maps it to its own error. The message holds no key material."""


def missing_mechanisms(key_spec: str, offered: Iterable[int]) -> list[str] | None:
    """The ``CKM_`` names a token lacks to keep HSM keys of ``key_spec`` (empty: none), or
    None when openkms makes no HSM keys of that spec."""
    needs = _NEEDS.get(key_spec)
    if needs is None:
        return None
    p11 = library()
    have = set(offered)
    return [f"CKM_{name}" for name in needs if int(p11.Mechanism[name]) not in have]


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

    def generate(self, key_spec: str) -> tuple[bytes, bytes | None]:
        """A new version's key, made in the token and returned only wrapped (see the module),
        with the public key's SubjectPublicKeyInfo DER for a key pair (else None)."""
        if key_spec not in _KEY_BYTES:
            return self._generate_pair(key_spec)
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
            return bytes(master[attr.ID]) + bytes(wrapped), None

    def _generate_pair(self, key_spec: str) -> tuple[bytes, bytes]:
        """An RSA or EC key pair made in the token: the private key wrapped, the public key's
        DER read out; both session objects destroyed."""
        p11 = library()
        attr = p11.Attribute
        private_template = {
            attr.TOKEN: False,
            attr.SENSITIVE: True,
            attr.EXTRACTABLE: True,
            attr.SIGN: True,
            attr.DECRYPT: False,
            attr.UNWRAP: False,
            attr.DERIVE: False,
        }
        public_template = {attr.TOKEN: False, attr.VERIFY: True, attr.ENCRYPT: False, attr.WRAP: False}
        with self._hold() as hold:
            master = self._master(hold, None)
            session = hold.session
            if key_spec in _RSA_BITS:
                public, private = session.generate_keypair(
                    p11.KeyType.RSA,
                    _RSA_BITS[key_spec],
                    store=False,
                    public_template=public_template,
                    private_template=private_template,
                )
            else:
                from pkcs11.util.ec import encode_named_curve_parameters

                params = session.create_domain_parameters(
                    p11.KeyType.EC,
                    {attr.EC_PARAMS: encode_named_curve_parameters(_EC_CURVES[key_spec][0])},
                    local=True,
                )
                public, private = params.generate_keypair(
                    store=False, public_template=public_template, private_template=private_template
                )
            try:
                der = _public_der(key_spec, public)
                wrapped = master.wrap_key(private, mechanism=p11.Mechanism.AES_KEY_WRAP_PAD)
            finally:
                private.destroy()
                public.destroy()
            return bytes(master[attr.ID]) + bytes(wrapped), der

    def _held(self, hold: TokenHold, version_id: str, wrapped: bytes, key_spec: str | None) -> Any:
        """The version's key unwrapped into the token, from the LRU or unwrapped now (the
        least recently used object is destroyed when the LRU is full). ``key_spec`` names a
        key pair's spec; None is an AES key."""
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
        template = {attr.TOKEN: False, attr.SENSITIVE: True, attr.EXTRACTABLE: False}
        if key_spec is None:  # an AES key (of any length)
            kind = (p11.ObjectClass.SECRET_KEY, p11.KeyType.AES)
            capabilities = p11.MechanismFlag.ENCRYPT | p11.MechanismFlag.DECRYPT
            for name in ("WRAP", "UNWRAP", "SIGN", "VERIFY", "DERIVE"):
                template[attr[name]] = False
        else:
            key_type = p11.KeyType.RSA if key_spec in _RSA_BITS else p11.KeyType.EC
            kind = (p11.ObjectClass.PRIVATE_KEY, key_type)
            capabilities = p11.MechanismFlag.SIGN
            # A private key takes none of the public-key capability attributes (SoftHSM2 refuses
            # the template otherwise): DEFAULT drops them from python-pkcs11's template.
            for name in ("ENCRYPT", "VERIFY", "WRAP", "UNWRAP", "DECRYPT", "DERIVE"):
                template[attr[name]] = p11.DEFAULT
            template[attr.SIGN] = True
        try:
            found = master.unwrap_key(
                *kind,
                wrapped[ID_LEN:],
                mechanism=p11.Mechanism.AES_KEY_WRAP_PAD,
                store=False,
                capabilities=capabilities,
                template=template,
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
            key = self._held(hold, version_id, wrapped, None)
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
            key = self._held(hold, version_id, wrapped, None)
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

    def sign(self, version_id: str, wrapped: bytes, key_spec: str, algorithm: str, digest: bytes) -> bytes:
        """Sign a SHA-256 ``digest`` in the token with the version's private key: RSA PSS
        (MGF1-SHA-256, 32-byte salt) or PKCS#1 v1.5 (raw signature), ECDSA (DER).

        Raises:
            TokenRefused: the version's wrap does not open.
        """
        p11 = library()
        with self._hold() as hold:
            key = self._held(hold, version_id, wrapped, key_spec)
            if key_spec in _EC_CURVES:
                from pkcs11.util.ec import encode_ecdsa_signature

                return bytes(encode_ecdsa_signature(key.sign(digest, mechanism=p11.Mechanism.ECDSA)))
            if algorithm == "RSA_PSS_SHA_256":
                params = (p11.Mechanism.SHA256, p11.MGF.SHA256, _PSS_SALT_LEN)
                return bytes(key.sign(digest, mechanism=p11.Mechanism.RSA_PKCS_PSS, mechanism_param=params))
            return bytes(key.sign(_SHA256_DIGEST_INFO + digest, mechanism=p11.Mechanism.RSA_PKCS))

    def held_object(self, version_id: str) -> Any:
        """The session object this process holds for a version, or None (for checks of its
        attributes: it must refuse to be read or wrapped out)."""
        with self._hold() as hold:
            return hold.proc.objects.get((self._module, self._token_label, version_id))

    def __repr__(self) -> str:
        return f"TokenKeys(token={self._token_label!r})"


def _public_der(key_spec: str, public: Any) -> bytes:
    """The SubjectPublicKeyInfo DER of a public key object of the token."""
    attr = library().Attribute
    loaded: rsa.RSAPublicKey | ec.EllipticCurvePublicKey
    if key_spec in _RSA_BITS:
        modulus = int.from_bytes(bytes(public[attr.MODULUS]), "big")
        exponent = int.from_bytes(bytes(public[attr.PUBLIC_EXPONENT]), "big")
        loaded = rsa.RSAPublicNumbers(exponent, modulus).public_key()
    else:
        point = bytes(public[attr.EC_POINT])
        # CKA_EC_POINT is the uncompressed point inside a DER OCTET STRING (65 bytes: short form).
        if len(point) < 2 or point[0] != 0x04 or point[1] != len(point) - 2:
            raise TokenRefused("the token's EC public key is not a DER OCTET STRING")
        loaded = ec.EllipticCurvePublicKey.from_encoded_point(_EC_CURVES[key_spec][1], point[2:])
    return loaded.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
