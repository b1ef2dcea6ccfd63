"""A caller's own RSA-2048 key pair for the actions that hand out a data key wrapped under it
(GenerateAndExportDataKey, ExportDataKey): the private half opens what they answer."""

from __future__ import annotations

import base64

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

PRIVATE = rsa.generate_private_key(public_exponent=65537, key_size=2048)
PUBLIC_BLOB = base64.b64encode(
    PRIVATE.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
).decode()


def wrap_params(algorithm: str = "RSAES_OAEP_SHA_256") -> dict[str, str]:
    """The PublicKeyBlob, WrappingKeySpec and WrappingAlgorithm parameters that export under PUBLIC_BLOB."""
    return {"PublicKeyBlob": PUBLIC_BLOB, "WrappingKeySpec": "RSA_2048", "WrappingAlgorithm": algorithm}
