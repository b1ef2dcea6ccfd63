"""The client side of the wire: V3-signed calls to an openkms (or Alibaba Cloud) endpoint,
the credentials they are signed with, and the envelope file format of `openkms envelope`.

Nothing here imports the server: the client signs with the pure functions of
:mod:`openkms.wire.signing`, the same ones the server verifies with.
"""

from __future__ import annotations

from openkms.client.credentials import CredentialError, Credentials, load_profile
from openkms.client.signer import SignedRequest, sign_v3
from openkms.client.transport import ApiError, Client, Endpoint, TransportError, parse_endpoint

__all__ = [
    "ApiError",
    "Client",
    "CredentialError",
    "Credentials",
    "Endpoint",
    "SignedRequest",
    "TransportError",
    "credentials",
    "envelope",
    "load_profile",
    "parse_endpoint",
    "sign_v3",
    "signer",
    "transport",
]
