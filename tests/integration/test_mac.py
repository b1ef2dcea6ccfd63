"""HMAC keys with GenerateMac/VerifyMac through both official SDKs, for every HMAC spec."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from alibabacloud_kms20160120 import models as m
from aliyunsdkcore.request import CommonRequest

from tests.support.clients import OldClient

SPECS = {"HMAC_SM3": 32, "HMAC_SHA_224": 28, "HMAC_SHA_256": 32, "HMAC_SHA_384": 48, "HMAC_SHA_512": 64}


def old_common(old: OldClient, action: str, **params: str) -> dict[str, Any]:
    """The old SDK has no GenerateMac/VerifyMac classes; its CommonRequest sends them as RPC."""
    req = CommonRequest(domain=old.endpoint, version="2016-01-20", action_name=action, product="Kms")
    req.set_method("POST")
    req.set_protocol_type("http")
    for name, value in params.items():
        req.add_query_param(name, value)
    return json.loads(old.client.do_action_with_exception(req))


@pytest.mark.parametrize(("spec", "length"), SPECS.items())
def test_generate_and_verify_mac(tea, old: OldClient, spec: str, length: int) -> None:  # type: ignore[no-untyped-def]
    """An HMAC key makes a MAC of its hash's length, the same for the same message through
    either SDK; VerifyMac says true for it and false for another message or MAC."""
    meta = tea.create_key(m.CreateKeyRequest(key_spec=spec)).body.key_metadata
    assert (spec, "GENERATE/VERIFY_MAC", "Disabled") == (meta.key_spec, meta.key_usage, meta.automatic_rotation)
    message = base64.b64encode(b"The quick brown fox").decode()
    body = tea.generate_mac(m.GenerateMacRequest(key_id=meta.key_id, algorithm=spec, message=message)).body
    assert (meta.key_id, spec) == (body.key_id, body.algorithm)
    tag = base64.b64decode(body.mac)
    assert length == len(tag)
    assert body.mac == old_common(old, "GenerateMac", KeyId=meta.key_id, Algorithm=spec, Message=message)["Mac"]

    def verify(msg: str, mac: str) -> bool:
        return tea.verify_mac(m.VerifyMacRequest(key_id=meta.key_id, algorithm=spec, message=msg, mac=mac)).body.value

    assert verify(message, body.mac) is True
    assert verify(base64.b64encode(b"the quick brown fox").decode(), body.mac) is False
    assert verify(message, base64.b64encode(tag[:-1] + bytes([tag[-1] ^ 1])).decode()) is False
    old_verified = old_common(old, "VerifyMac", KeyId=meta.key_id, Algorithm=spec, Message=message, Mac=body.mac)
    assert (True, spec, meta.key_id) == (old_verified["Value"], old_verified["Algorithm"], old_verified["KeyId"])


def test_macs_differ_between_keys(tea) -> None:  # type: ignore[no-untyped-def]
    """Two HMAC keys of one spec have different material: their MACs of one message differ."""
    macs = set()
    for _ in range(2):
        key_id = tea.create_key(m.CreateKeyRequest(key_spec="HMAC_SHA_256")).body.key_metadata.key_id
        macs.add(tea.generate_mac(m.GenerateMacRequest(key_id=key_id, algorithm="HMAC_SHA_256", message="aGk=")).body.mac)
    assert len(macs) == 2
