"""The root key kept as a CiphertextBlob of an upstream KMS that speaks Alibaba Cloud KMS's API
(Alibaba Cloud KMS itself, or another openkms), for the ``kms`` root provider.

The upstream is reached through the official Tea SDK (``alibabacloud_kms20160120`` over
``alibabacloud_tea_openapi``: the ``kms-unseal`` extra), imported only when a call is made, so
a node of another provider needs none of it. The root key travels as the base64 text of its
32 bytes (the Plaintext of Encrypt and Decrypt), bound by an EncryptionContext the caller
chooses.

Errors keep the credentials and the root key out of their messages: a network failure is named
by its kind only (the SDK's own message may quote the request's URL, whose query can carry the
Plaintext).
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from openkms.rootkey.file import RootKeyError

__all__ = ["Upstream", "UpstreamRefused", "UpstreamSdkMissing", "UpstreamUnavailable"]

# Seconds a call may take to connect and to be answered: a node starting sealed retries later.
CONNECT_TIMEOUT_MS = 5_000
READ_TIMEOUT_MS = 10_000
# Codes by which the upstream says the blob itself is wrong: asking again cannot help.
_BLOB_REFUSED = ("InvalidCiphertext", "InvalidParameter")
_INSTALL_HINT = "pip install 'openkms[kms-unseal]'"


class UpstreamUnavailable(RootKeyError):
    """The upstream cannot answer (unreachable, throttled, its key disabled, credentials
    refused): a node asks again later. The message names the cause, never a credential."""


class UpstreamRefused(RootKeyError):
    """The upstream refuses this blob or context for good (another deployment's blob, a
    context that is not the one it was encrypted under)."""


class UpstreamSdkMissing(UpstreamRefused):
    """The official SDK is not installed (the ``kms-unseal`` extra)."""


@dataclass(frozen=True)
class Upstream:
    """One upstream KMS: its endpoint (``host[:port]``, or a URL whose scheme says http or
    https; https by default), region and credentials; ``ca_file`` verifies its certificate."""

    endpoint: str
    region: str
    access_key_id: str
    access_key_secret: str = field(repr=False)
    security_token: str | None = field(default=None, repr=False)
    ca_file: str | None = None

    def encrypt(self, key_id: str, key: bytes, context: dict[str, str]) -> str:
        """The CiphertextBlob of ``key`` under the upstream key ``key_id`` (an id, ARN or
        alias), bound to ``context``."""
        models = _sdk()[1]
        request = models.EncryptRequest(
            key_id=key_id,
            plaintext=base64.b64encode(key).decode(),
            encryption_context=dict(context),
        )
        answer = self._call("encrypt", request)
        blob = getattr(answer, "ciphertext_blob", None)
        if not isinstance(blob, str) or not blob:
            raise UpstreamRefused("the upstream KMS answered Encrypt without a CiphertextBlob")
        return blob

    def decrypt(self, blob: str, context: dict[str, str]) -> bytes:
        """The key ``blob`` holds, which must have been made under ``context``."""
        models = _sdk()[1]
        request = models.DecryptRequest(ciphertext_blob=blob, encryption_context=dict(context))
        answer = self._call("decrypt", request)
        try:
            return base64.b64decode(getattr(answer, "plaintext", None) or "", validate=True)
        except (binascii.Error, ValueError, TypeError):
            raise UpstreamRefused(
                "the upstream KMS answered Decrypt with a Plaintext that is not base64"
            ) from None

    def _call(self, action: str, request: Any) -> Any:
        client_module, _, openapi, util = _sdk()
        scheme, host = self._address()
        config = openapi.Config(
            access_key_id=self.access_key_id,
            access_key_secret=self.access_key_secret,
            security_token=self.security_token,
            region_id=self.region,
            endpoint=host,
            protocol=scheme,
            connect_timeout=CONNECT_TIMEOUT_MS,
            read_timeout=READ_TIMEOUT_MS,
            ca=self.ca_file,
        )
        runtime = util.RuntimeOptions(
            autoretry=False, connect_timeout=CONNECT_TIMEOUT_MS, read_timeout=READ_TIMEOUT_MS, ca=self.ca_file
        )
        try:
            client = client_module.Client(config)
            return getattr(client, f"{action}_with_options")(request, runtime).body
        except Exception as exc:  # noqa: BLE001 - the SDK raises its own, requests' and ssl's
            raise _translate(exc, host) from None

    def _address(self) -> tuple[str, str]:
        text = self.endpoint.strip()
        if "://" in text:
            parts = urlsplit(text)
            if parts.scheme not in ("http", "https") or not parts.netloc:
                raise UpstreamRefused(f"kms_endpoint {text!r} is not host[:port] or an http(s) URL")
            return parts.scheme, parts.netloc
        return "https", text


def _translate(exc: Exception, host: str) -> RootKeyError:
    code = getattr(exc, "code", None)
    status = getattr(exc, "status_code", None)
    if isinstance(code, str) and isinstance(status, int):
        data = getattr(exc, "data", None)
        message = str((data or {}).get("Message", "")) if isinstance(data, dict) else ""
        text = f"the upstream KMS at {host} refused: {status} {code}" + (
            f": {message[:200]}" if message else ""
        )
        if code.startswith(_BLOB_REFUSED):
            return UpstreamRefused(text)
        return UpstreamUnavailable(text)
    return UpstreamUnavailable(f"the upstream KMS at {host} cannot be reached ({type(exc).__name__})")


def _sdk() -> tuple[Any, Any, Any, Any]:
    """The Tea SDK's modules: the KMS client, its models, the OpenAPI models, the runtime."""
    try:
        from alibabacloud_kms20160120 import client, models  # type: ignore[import-untyped]
        from alibabacloud_tea_openapi import models as openapi  # type: ignore[import-untyped]
        from darabonba import runtime as util  # type: ignore[import-untyped]
    except ImportError:
        raise UpstreamSdkMissing(
            f"root_provider kms needs the official Alibaba Cloud KMS SDK (not installed): {_INSTALL_HINT}"
        ) from None
    return client, models, openapi, util
