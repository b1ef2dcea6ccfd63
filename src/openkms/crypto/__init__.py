"""Cryptographic primitives over ``cryptography`` and the system OpenSSL (SM2): the AEADs that wrap
material and make CiphertextBlobs, key generation per key spec, asymmetric and MAC operations,
BYOK unwrapping, export wrapping and the start-up self-test. No I/O, no storage."""

__all__ = [
    "aead",
    "asymmetric",
    "blob",
    "devcert",
    "keyed",
    "keygen",
    "mac",
    "passphrase",
    "selftest",
    "sm2",
    "unwrap",
    "wrapping",
]
