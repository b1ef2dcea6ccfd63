"""The audit event's rules (domain/audit.py): what of a call it may hold, which resources it
names, who it says called, and the chain's links."""

from __future__ import annotations

import json

from openkms.domain import audit
from openkms.domain.ram import Owner, Session


def _hasher(text: str) -> str:
    return f"h({text})"


REDACT = audit.Redactor(_hasher)


def test_secret_values_are_never_recorded_only_their_length() -> None:
    params = REDACT.params({"Plaintext": "aGVsbG8=", "SecretData": "s3cr3t", "KeyId": "k"})
    assert params["Plaintext"] == {"omitted": True, "bytes": 8}
    assert params["SecretData"] == {"omitted": True, "bytes": 6}
    assert params["KeyId"] == "k"


def test_answers_lose_data_keys_passwords_and_sts_secrets_at_any_depth() -> None:
    result = {
        "Plaintext": "ZGF0YWtleQ==",
        "RandomPassword": "pw",
        "Credentials": {"AccessKeyId": "STS.x", "AccessKeySecret": "sec", "SecurityToken": "tok"},
        "SecretsValue": [{"SecretName": "a", "SecretData": "v1"}],
    }
    out = {k: REDACT.value(k, v) for k, v in result.items()}
    text = json.dumps(out)
    for secret in ("ZGF0YWtleQ==", '"pw"', '"sec"', '"tok"', '"v1"'):
        assert secret not in text
    assert out["Credentials"]["AccessKeyId"] == "STS.x"


def test_protocol_parameters_are_not_the_actions_input() -> None:
    params = REDACT.params({"Signature": "sig", "SignatureNonce": "n", "AccessKeyId": "ak", "KeyId": "k"})
    assert params == {"KeyId": "k"}


def test_encryption_context_keeps_its_keys_and_keys_its_values() -> None:
    params = REDACT.params({"EncryptionContext": '{"tenant":"acme","file":"a.txt"}'})
    assert params["EncryptionContext"] == {"tenant": "h(acme)", "file": "h(a.txt)"}
    # Not a valid context: the whole text is keyed.
    assert REDACT.params({"EncryptionContext": "{oops"})["EncryptionContext"] == "h({oops)"


def test_policies_are_recorded_by_their_digest_and_unknown_strings_are_keyed() -> None:
    params = REDACT.params({"Policy": '{"Statement":[]}', "CiphertextBlob": "blob", "Tag.1.Value": "v"})
    assert params["Policy"].startswith("sha256:") and "Statement" not in params["Policy"]
    assert params["CiphertextBlob"] == "h(blob)"
    assert params["Tag.1.Value"] == "h(v)"


def test_referenced_resources_come_from_parameters_and_answer() -> None:
    refs = audit.referenced(
        {"KeyId": "alias/app"}, {"KeyId": "key-1", "KeyVersionId": "v-1", "CiphertextBlob": "x"}
    )
    assert refs == {
        "ACS::KMS::Alias": ["alias/app"],
        "ACS::KMS::Key": ["key-1"],
        "ACS::KMS::KeyVersion": ["v-1"],
    }
    assert audit.referenced({"SecretName": "db", "VersionId": "v2"}, None) == {
        "ACS::KMS::Secret": ["db"],
        "ACS::KMS::SecretVersion": ["v2"],
    }


def test_identity_of_root_user_role_session_and_an_unchecked_caller() -> None:
    assert audit.identity(Owner("1111"), "AK")["type"] == "root-account"
    user = audit.identity(Owner("1111", user_id="u-1"), "AK", "alice")
    assert (user["type"], user["principalId"], user["userName"]) == ("ram-user", "u-1", "alice")
    session = Session("r-1", "reader", "s1", 1_800_000_000.0)
    role = audit.identity(Owner("1111", session=session), "STS.AK")
    assert (role["type"], role["principalId"], role["userName"]) == ("assumed-role", "r-1:s1", "reader:s1")
    assert audit.identity(None, "claimed") == {"type": "unknown", "accessKeyId": "claimed"}


def test_event_rw() -> None:
    assert [audit.event_rw(a) for a in ("DescribeKey", "Encrypt", "CreateKey", "ScheduleKeyDeletion")] == [
        "Read",
        "Read",
        "Write",
        "Write",
    ]


def test_a_link_depends_on_the_key_the_previous_mac_and_the_body() -> None:
    k, prev = b"k" * 32, audit.genesis("c")
    body = audit.canonical({"b": 1, "a": "x"})
    assert body == b'{"b":1,"a":"x"}'  # as built: the MAC covers the stored bytes
    mac = audit.link(k, prev, body)
    assert audit.same(mac, audit.link(k, prev, body))
    assert not audit.same(mac, audit.link(b"j" * 32, prev, body))
    assert not audit.same(mac, audit.link(k, audit.genesis("d"), body))
    assert not audit.same(mac, audit.link(k, prev, body + b" "))
    head = audit.head_mac(k, "c", 5, mac, 0)
    assert not audit.same(head, audit.head_mac(k, "c", 4, mac, 0))
    assert not audit.same(head, audit.head_mac(k, "c", 5, mac, 1))
