"""Signature schemes against the vectors captured from the unmodified official SDKs
(secret ``FakeAccessKeySecret0123456789ABCD``)."""

from __future__ import annotations

from openkms.wire import signing
from openkms.wire.request import parse_form

SECRET = "FakeAccessKeySecret0123456789ABCD"


def test_v1_old_sdk_encrypt_vector() -> None:
    """V1-a: the old SDK's Encrypt, every parameter in the query, %20 for space."""
    query = (
        "KeyId=alias%2Fdemo&Plaintext=hello%20world&EncryptionContext=%7B%22purpose%22%3A%20%22test%22%2C%20"
        "%22ctx%20key%22%3A%20%22v%2F1%2B2%22%7D&Version=2016-01-20&Action=Encrypt&Format=JSON&RegionId=cn-hangzhou"
        "&Timestamp=2026-11-28T06%3A18%3A06Z&SignatureMethod=HMAC-SHA1&SignatureType=&SignatureVersion=1.0"
        "&SignatureNonce=07e3c8c750d6abb3bf2d9ec9747c8f74&AccessKeyId=LTAI5tFakeAccessKeyId0001"
        "&Signature=WZDcfLMFqrakFpOV%2FaIhQlbaBBo%3D"
    )
    params = parse_form(query)
    sts = signing.v1_string_to_sign("POST", params)
    assert sts.startswith("POST&%2F&AccessKeyId%3DLTAI5tFakeAccessKeyId0001%26Action%3DEncrypt")
    assert "SignatureType%3D%26" in sts
    assert signing.v1_signature(SECRET, sts) == "WZDcfLMFqrakFpOV/aIhQlbaBBo="


def test_v1_tea_v2_form_body_is_signed() -> None:
    """V1-b: Tea with signature_algorithm='v2' signs the form-body SecretData ('+' is a space)."""
    query = (
        "Action=CreateSecret&Format=json&Version=2016-01-20&Timestamp=2026-11-28T06%3A18%3A44Z"
        "&SignatureNonce=0ec5214703ad71d6493f12faa31b1a4e&ExtendedConfig=%7B%22SecretSubType%22%3A%22SingleUser"
        "%22%2C%22n%22%3A1%7D&SecretDataType=text&SecretName=s1&VersionId=v1&SignatureMethod=HMAC-SHA1"
        "&SignatureVersion=1.0&AccessKeyId=LTAI5tFakeAccessKeyId0001&Signature=b2l4xo9EG24x7QhOcGYGHSVkcy8%3D"
    )
    params = parse_form(query) + parse_form("SecretData=p%40ss+word%2B%2F%3D%2A~")
    assert ("SecretData", "p@ss word+/=*~") in params
    sts = signing.v1_string_to_sign("POST", params)
    assert signing.v1_signature(SECRET, sts) == "b2l4xo9EG24x7QhOcGYGHSVkcy8="


V3A_HEADERS = [
    ("Accept-Encoding", "identity"),
    ("host", "127.0.0.1:18931"),
    ("x-acs-version", "2016-01-20"),
    ("x-acs-action", "Encrypt"),
    ("user-agent", "AlibabaCloud (Linux; x86_64) Python/3.11.7 Core/0.4.3 TeaDSL/2"),
    ("x-acs-date", "2026-11-28T06:18:35Z"),
    ("x-acs-signature-nonce", "a90a3723fed620c866957f02658ce9b1"),
    ("accept", "application/json"),
    ("x-acs-content-sha256", signing.EMPTY_SHA256),
    ("x-acs-credentials-provider", "static_ak"),
]
V3A_QUERY = (
    "EncryptionContext=%7B%22purpose%22%3A%22test%22%2C%22ctx+key%22%3A%22v%2F1%2B2%22%7D"
    "&KeyId=alias%2Fdemo&Plaintext=hello+world"
)
V3A_AUTH = (
    "ACS3-HMAC-SHA256 Credential=LTAI5tFakeAccessKeyId0001,SignedHeaders=accept;host;user-agent;"
    "x-acs-action;x-acs-content-sha256;x-acs-credentials-provider;x-acs-date;x-acs-signature-nonce;"
    "x-acs-version,Signature=6ce7998c3998f08305d5c1e8980c020f13e2df82a8a53e780ef33b6930e0f8ad"
)


def test_v3_tea_default_encrypt_vector() -> None:
    """V3-a: the Tea SDK's default scheme; the canonical request hashes to the captured value."""
    auth = signing.parse_authorization(V3A_AUTH)
    assert auth is not None
    assert auth.access_key_id == "LTAI5tFakeAccessKeyId0001"
    creq = signing.canonical_request(
        "POST", "/", parse_form(V3A_QUERY), V3A_HEADERS, auth.signed_headers, signing.EMPTY_SHA256
    )
    sts = signing.v3_string_to_sign(creq)
    assert sts == "ACS3-HMAC-SHA256\n4a224ffd099bac87e4e05ebfb76d2195721625a5380e460d165424c0858d5014"
    assert auth.signature == signing.v3_signature(SECRET, sts)


def test_v3_changed_parameter_or_header_breaks_signature() -> None:
    """A changed query value or a changed signed header yields a different signature."""
    auth = signing.parse_authorization(V3A_AUTH)
    assert auth is not None
    tampered_query = V3A_QUERY.replace("hello", "hellp")
    creq = signing.canonical_request(
        "POST", "/", parse_form(tampered_query), V3A_HEADERS, auth.signed_headers, signing.EMPTY_SHA256
    )
    assert auth.signature != signing.v3_signature(SECRET, signing.v3_string_to_sign(creq))
    headers = [(k, "Other/1.0" if k == "user-agent" else v) for k, v in V3A_HEADERS]
    creq = signing.canonical_request(
        "POST", "/", parse_form(V3A_QUERY), headers, auth.signed_headers, signing.EMPTY_SHA256
    )
    assert auth.signature != signing.v3_signature(SECRET, signing.v3_string_to_sign(creq))


def test_v3_form_body_vector() -> None:
    """V3-b: CreateSecret with a form body; the body is covered by its hash, not the query."""
    body = b"SecretData=p%40ss+word%2B%2F%3D%2A~"
    import hashlib

    body_hash = hashlib.sha256(body).hexdigest()
    assert body_hash == "9ee1fa6ad9564c7d96f8d7a59ffbf74fb0b174c16969ffbc31e8d3f29ab28072"
    headers = [
        ("host", "127.0.0.1:18931"),
        ("x-acs-version", "2016-01-20"),
        ("x-acs-action", "CreateSecret"),
        ("user-agent", "AlibabaCloud (Linux; x86_64) Python/3.11.7 Core/0.4.3 TeaDSL/2"),
        ("x-acs-date", "2026-11-28T06:18:35Z"),
        ("x-acs-signature-nonce", "786891a237ad8978a49cce051e914b81"),
        ("accept", "application/json"),
        ("content-type", "application/x-www-form-urlencoded"),
        ("x-acs-content-sha256", body_hash),
        ("x-acs-credentials-provider", "static_ak"),
    ]
    signed = (
        "accept", "content-type", "host", "user-agent", "x-acs-action", "x-acs-content-sha256",
        "x-acs-credentials-provider", "x-acs-date", "x-acs-signature-nonce", "x-acs-version",
    )
    query = (
        "ExtendedConfig=%7B%22SecretSubType%22%3A%22SingleUser%22%2C%22n%22%3A1%7D"
        "&SecretDataType=text&SecretName=s1&VersionId=v1"
    )
    creq = signing.canonical_request("POST", "/", parse_form(query), headers, signed, body_hash)
    assert signing.v3_signature(
        SECRET, signing.v3_string_to_sign(creq)
    ) == "b6eb5f856eb1e7489b3102bfb13a041f7b08a49b334066d21a188201b9e3b696"


def test_v4_vector() -> None:
    """V4: the Tea SDK's ACS4-HMAC-SHA256 with its scoped signing key."""
    headers = [
        ("host", "127.0.0.1:18931"),
        ("x-acs-version", "2016-01-20"),
        ("x-acs-date", "2026-11-28T06:18:47Z"),
        ("x-acs-signature-nonce", "d69a91ec3638b6b5b750c15c64c66fe8"),
        ("accept", "application/json"),
        ("x-acs-action", "Encrypt"),
        ("x-acs-content-sha256", signing.EMPTY_SHA256),
        ("x-acs-credentials-provider", "static_ak"),
    ]
    auth = signing.parse_authorization(
        "ACS4-HMAC-SHA256 Credential=LTAI5tFakeAccessKeyId0001/20261128/cn-hangzhou/Kms/aliyun_v4_request,"
        "SignedHeaders=host;x-acs-action;x-acs-content-sha256;x-acs-credentials-provider;x-acs-date;"
        "x-acs-signature-nonce;x-acs-version,"
        "Signature=27a3f7d8fa4f62f52ed176fcd41952a275f8e1efdf76083601e3cc754c402e3f"
    )
    assert auth is not None
    assert auth.scope == ("20261128", "cn-hangzhou", "Kms", "aliyun_v4_request")
    creq = signing.canonical_request(
        "POST", "/", parse_form(V3A_QUERY), headers, auth.signed_headers, signing.EMPTY_SHA256
    )
    import hashlib

    assert hashlib.sha256(
        creq.encode()
    ).hexdigest() == "938853b5304c2502dcf891b9719a48d04056367547aa37f2c51275b95bc1688e"
    key = signing.v4_signing_key(SECRET, "20261128", "cn-hangzhou", "Kms")
    assert key.hex() == "bae6adfca90f502aafb8d453da7066cb8aa3a3c11a9bd7340e0a483fbd75e97b"
    assert auth.signature == signing.v4_signature(key, signing.v4_string_to_sign(creq))


def test_parse_authorization_rejects_malformed() -> None:
    """Malformed Authorization headers parse to None (answered IncompleteSignature)."""
    for value in (
        "",
        "ACS3-HMAC-SHA256",
        "ACS3-HMAC-SHA256 Credential=a,SignedHeaders=host",
        "ACS3-HMAC-SHA256 Credential=,SignedHeaders=host,Signature=ab",
        "ACS3-HMAC-SHA256 Credential=a,SignedHeaders=Host,Signature=ab",
        "ACS3-HMAC-SHA256 Credential=a,Credential=b,SignedHeaders=host,Signature=ab",
        "HMAC Credential=a,SignedHeaders=host,Signature=ab",
    ):
        assert signing.parse_authorization(value) is None, value


def test_signature_comparison_is_constant_time_helper() -> None:
    """signatures_equal compares exactly (it wraps hmac.compare_digest)."""
    assert signing.signatures_equal("abc", "abc")
    assert not signing.signatures_equal("abc", "abd")
    assert not signing.signatures_equal("abc", "ab")
