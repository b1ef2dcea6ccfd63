"""The AccessKeyId a request claims, before any check: what the log names for a refused signature."""

from __future__ import annotations

import pytest

from openkms.wire.request import MAX_CLAIMED_ID, build_request


def _headers(authorization: str) -> list[tuple[bytes, bytes]]:
    return [(b"host", b"kms.example"), (b"Authorization", authorization.encode())]


@pytest.mark.parametrize(
    ("query", "headers", "claimed"),
    [
        (b"Action=ListKeys&AccessKeyId=LTAIv1KeyId", [], "LTAIv1KeyId"),
        (b"Action=ListKeys&AccessKeyId=STS.NUabc%2Bdef", [], "STS.NUabc+def"),
        (b"Action=ListKeys", [], None),
        (b"Action=ListKeys&AccessKeyId=", [], None),
        (
            b"",
            _headers("ACS3-HMAC-SHA256 Credential=LTAIv3KeyId,SignedHeaders=host;x-acs-date,Signature=ab"),
            "LTAIv3KeyId",
        ),
        (
            b"",
            _headers(
                "ACS4-HMAC-SHA256 Credential=LTAIv4KeyId/20261202/cn-hangzhou/kms/aliyun_v4_request,"
                "SignedHeaders=host,Signature=ab"
            ),
            "LTAIv4KeyId",
        ),
        # Malformed headers name what they carry: the signature check refuses them, the log
        # still says who they claimed to be.
        (b"", _headers("ACS3-HMAC-SHA256 SignedHeaders=host, Credential=LTAIlate"), "LTAIlate"),
        (b"", _headers("ACS3-HMAC-SHA256 Credential=LTAIonly"), "LTAIonly"),
        (b"", _headers("ACS3-HMAC-SHA256 SignedHeaders=host,Signature=ab"), None),
        (b"", _headers("ACS3-HMAC-SHA256"), None),
        # A V3 header wins over a V1 parameter, as the signature check reads it.
        (
            b"AccessKeyId=LTAIparam",
            _headers("ACS3-HMAC-SHA256 Credential=LTAIheader,SignedHeaders=host,Signature=ab"),
            "LTAIheader",
        ),
    ],
)
def test_claimed_access_key_id(query: bytes, headers: list[tuple[bytes, bytes]], claimed: str | None) -> None:
    assert build_request("POST", "/", query, headers, b"").claimed_access_key_id == claimed


def test_a_long_claim_is_cut() -> None:
    """A client may send any length there; the log keeps a bounded prefix."""
    req = build_request("GET", "/", b"AccessKeyId=" + b"A" * 5000, [], b"")
    assert req.claimed_access_key_id == "A" * MAX_CLAIMED_ID
