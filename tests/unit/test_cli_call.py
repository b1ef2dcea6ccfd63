"""`openkms call` without a server: parameters from the command line, the version from the
action tables, parameters the action does not take, the table output, the endpoint rules."""

from __future__ import annotations

import pytest

from openkms.cli_call import UsageError, check_params, render_table, resolve_version, split_params
from openkms.client.credentials import Credentials
from openkms.client.transport import Client, TransportError, parse_endpoint


def test_parameters_and_flags_are_told_apart() -> None:
    params, rest = split_params(
        ["--KeyId", "alias/x", "--output", "table", "--Plaintext=-a b=c", "--Tag.1.Key", "--leading-dash"]
    )
    assert params == {"KeyId": "alias/x", "Plaintext": "-a b=c", "Tag.1.Key": "--leading-dash"}
    assert rest == ["--output", "table"]


@pytest.mark.parametrize(
    ("tokens", "message"),
    [(["--KeyId"], "needs a value"), (["--KeyId", "a", "--KeyId=b"], "given twice")],
)
def test_bad_parameters_are_usage_errors(tokens: list[str], message: str) -> None:
    with pytest.raises(UsageError, match=message):
        split_params(tokens)


def test_the_version_comes_from_the_action_tables() -> None:
    assert resolve_version("CreateKey", None)[:2] == ("2016-01-20", "Kms")
    assert resolve_version("CreateUser", None)[:2] == ("2015-05-01", "Ram")
    assert resolve_version("AssumeRole", None)[:2] == ("2015-04-01", "Sts")
    assert resolve_version("ListKeys", "2099-01-01") == ("2099-01-01", "Kms", None)
    with pytest.raises(UsageError, match="no action 'NoSuchAction'"):
        resolve_version("NoSuchAction", None)


def test_parameters_the_action_does_not_take_are_refused() -> None:
    _, _, spec = resolve_version("TagResources", None)
    assert spec is not None
    check_params("TagResources", spec, {"ResourceId.1": "k", "ResourceType": "key", "Tag.1.Key": "a", "Tag.2.Value": "b"})
    for bad in ("Tags", "Tag.1.Other", "Tag.1", "ResourceId.x", "Bogus"):
        with pytest.raises(UsageError, match=f"no parameter {bad}"):
            check_params("TagResources", spec, {bad: "v"})


def test_table_output() -> None:
    answer = {
        "RequestId": "R1",
        "TotalCount": 2,
        "Aliases": {"Alias": [{"AliasName": "alias/a", "KeyId": "k1"}, {"AliasName": "alias/bb", "Extra": True}]},
        "Empty": {"Item": []},
        "Nested": {"A": 1, "B": "two"},
    }
    assert render_table(answer).splitlines() == [
        "FIELD       VALUE",
        "----------  -----------------",
        "RequestId   R1",
        "TotalCount  2",
        'Nested      {"A":1,"B":"two"}',
        "",
        "Aliases (2)",
        "AliasName  KeyId  Extra",
        "---------  -----  -----",
        "alias/a    k1",
        "alias/bb          true",
        "",
        "Empty (0)",
    ]


@pytest.mark.parametrize(
    ("text", "scheme", "host", "port"),
    [
        ("kms.example.com", "https", "kms.example.com", 443),
        ("https://kms.example.com:8443", "https", "kms.example.com", 8443),
        ("http://127.0.0.1:9000", "http", "127.0.0.1", 9000),
        ("http://[::1]:9000", "http", "::1", 9000),
        ("http://localhost", "http", "localhost", 80),
    ],
)
def test_endpoints(text: str, scheme: str, host: str, port: int) -> None:
    end = parse_endpoint(text)
    assert (end.scheme, end.host, end.port) == (scheme, host, port)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("http://kms.example.com", "plain HTTP is allowed to a loopback address only"),
        ("http://10.0.0.1:80", "plain HTTP is allowed to a loopback address only"),
        ("ftp://h", "is not host"),
        ("https://h/path", "is not host"),
        ("https://h:99999", "bad port"),
    ],
)
def test_endpoints_refused(text: str, message: str) -> None:
    with pytest.raises(TransportError, match=message):
        parse_endpoint(text)


def test_insecure_only_to_loopback() -> None:
    cred = Credentials("A", "S")
    Client(parse_endpoint("https://127.0.0.1:8443"), cred, insecure=True)
    with pytest.raises(TransportError, match="--insecure is allowed to a loopback address only"):
        Client(parse_endpoint("https://kms.example.com"), cred, insecure=True)
