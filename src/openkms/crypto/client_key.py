"""A client key of application access: an RSA 2048 key pair and a certificate of its public half,
handed out once as a PKCS#12 bundle under the caller's password.

The instance SDKs read the bundle (Base64, ``PrivateKeyData`` in the client key file) with the
password, take the private key and sign requests with it (RSA PKCS#1 v1.5, SHA-256); openkms
keeps only the public key and the certificate. The certificate is self-signed, its subject the
client key id, valid from NotBefore to NotAfter: it carries the validity in the bundle, and the
gateway checks the stored validity, not the certificate's.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import NameOID

__all__ = ["ClientKeyMaterial", "make", "public_pem"]

RSA_BITS = 2048
# PBKDF2 rounds of the bundle's encryption: costly to guess, quick enough for one open.
KDF_ROUNDS = 50_000


@dataclass(frozen=True)
class ClientKeyMaterial:
    public_key_der: bytes  # SubjectPublicKeyInfo
    certificate_der: bytes
    pkcs12: bytes  # private key and certificate, encrypted under the password


def _utc(ts: float) -> datetime.datetime:
    return datetime.datetime.fromtimestamp(int(ts), datetime.UTC)


def make(client_key_id: str, password: str, not_before: float, not_after: float) -> ClientKeyMaterial:
    """A new key pair for ``client_key_id``, valid from ``not_before`` to ``not_after`` (epoch
    seconds), its bundle encrypted with AES-256-CBC under a PBKDF2-SHA256 key of ``password``."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=RSA_BITS)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, client_key_id)])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(_utc(not_before))
        .not_valid_after(_utc(not_after))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    encryption = (
        serialization.PrivateFormat.PKCS12.encryption_builder()
        .kdf_rounds(KDF_ROUNDS)
        .key_cert_algorithm(pkcs12.PBES.PBESv2SHA256AndAES256CBC)
        .hmac_hash(hashes.SHA256())
        .build(password.encode())
    )
    bundle = pkcs12.serialize_key_and_certificates(client_key_id.encode(), key, cert, None, encryption)
    public = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return ClientKeyMaterial(public, cert.public_bytes(serialization.Encoding.DER), bundle)


def public_pem(public_key_der: bytes) -> str:
    """A SubjectPublicKeyInfo as PEM text (GetClientKey's PublicKeyData)."""
    public = serialization.load_der_public_key(public_key_der)
    return public.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()
