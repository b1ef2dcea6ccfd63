"""Keys a test makes for itself before it exercises something else: through either official SDK
by Alibaba's parameter names (tests/support/calls.py), or through a Tea client of its own."""

from __future__ import annotations

from typing import Any

from alibabacloud_kms20160120 import models as tea_models

from tests.support.calls import SDK


def new_key(sdk: SDK, spec: str | None = None, **params: Any) -> str:
    """Create a key of KeySpec ``spec`` (none sent: the server's default) with ``params``; its KeyId."""
    return str(sdk.call("CreateKey", KeySpec=spec, **params)["KeyMetadata"]["KeyId"])


def new_key_and_version(sdk: SDK, spec: str, usage: str | None = None) -> tuple[str, str]:
    """Create a key of ``spec`` (and KeyUsage ``usage``, if given); its (KeyId, PrimaryKeyVersion)."""
    meta = sdk.call("CreateKey", KeySpec=spec, KeyUsage=usage)["KeyMetadata"]
    return meta["KeyId"], meta["PrimaryKeyVersion"]


def new_tea_key(tea: Any, **fields: Any) -> tea_models.CreateKeyResponseBodyKeyMetadata:
    """Create a key through a Tea client with CreateKeyRequest ``fields``; its KeyMetadata."""
    return tea.create_key(tea_models.CreateKeyRequest(**fields)).body.key_metadata
