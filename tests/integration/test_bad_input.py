"""Bad input across every action, generated from the action tables: always a 4xx with an
Alibaba code, never a 500, and the server keeps serving (security suite, issue 11)."""

from __future__ import annotations

import json
from urllib.parse import quote, urlencode

import pytest

from openkms.api import KMS_ACTIONS as REGISTRY
from openkms.api.spec import JSONArray, Param
from openkms.domain.aliases import NAME_PATTERN
from tests.support.clients import RawSigner
from tests.support.slots import slots

NESTED_JSON = "[" * 50_000 + "]" * 50_000
HUGE = "x" * (1 << 20)


def _filler(p: Param) -> str:
    if isinstance(p, JSONArray):
        element: object = {f.name: "x" for f in p.fields if f.required} if p.fields else "x"
        return json.dumps([element] * p.min_items)
    if p.pattern == NAME_PATTERN:
        return "alias/bad-input"
    if p.enum:
        return p.enum[0]
    if p.kind is int:
        return str(p.min if p.min is not None else 1)
    if p.kind is bool:
        return "false"
    return "00000000-0000-4000-8000-000000000000" if p.name.endswith("Id") else "x"


def _cases() -> list[tuple[str, str, str]]:
    out = []
    for name in sorted(REGISTRY):
        for param in REGISTRY[name].params:
            for slot, p in slots(param):
                for label in ("absent", "empty", "nul", "utf8", "type", "nested", "huge"):
                    if label == "absent" and not p.required:
                        continue
                    out.append((name, slot, label))
        for u in REGISTRY[name].unsupported:
            out += [(name, u.name, label) for label in ("empty", "nul", "utf8", "type", "nested", "huge")]
    return out


def _send(raw: RawSigner, action: str, params: dict[str, str], label: str, target: str) -> int:
    if label == "huge":
        # A 1 MB value travels in the form body (signed as V1 covers body parameters).
        body_params = {target: params.pop(target)}
        items = raw.v1_params(action, {**params, **body_params})
        query = urlencode([(k, v) for k, v in items if k != target], quote_via=quote)
        body = urlencode({target: body_params[target]}).encode()
        return raw.send("POST", query, body, {"content-type": "application/x-www-form-urlencoded"}).status
    if label == "utf8":
        items = raw.v1_params(action, params)
        query = urlencode(items, quote_via=quote) + f"&{target}=%FF%FE%00"
        return raw.send("POST", query).status
    return raw.v1(action, params).status


@pytest.mark.parametrize(("action", "param", "label"), _cases())
def test_bad_value_is_a_client_error(raw: RawSigner, action: str, param: str, label: str) -> None:
    """Missing, empty, NUL, invalid UTF-8, wrong type, deep JSON and 1 MB values never yield a 5xx."""
    spec = REGISTRY[action]
    params = {slot: _filler(p) for q in spec.params if q.required for slot, p in slots(q)}
    value = {
        "absent": None, "empty": "", "nul": "a\x00b", "utf8": "", "type": "not-a-number-{",
        "nested": NESTED_JSON, "huge": HUGE,
    }[label]
    if value is None:
        params.pop(param, None)
    else:
        params[param] = value
    status = _send(raw, action, params, label, param)
    assert status < 500, f"{action}.{param} ({label}) answered {status}"


UNSUPPORTED = sorted((name, u.name) for name, spec in REGISTRY.items() for u in spec.unsupported)


@pytest.mark.parametrize(("action", "param"), UNSUPPORTED)
def test_unsupported_parameter_is_refused_before_the_action(raw: RawSigner, action: str, param: str) -> None:
    """A parameter the table marks unsupported (Recipient, ListKmsInstances' Filters) is 400 UnsupportedOperation even when the
    other values would fail only inside the action (a key or blob that does not exist)."""
    spec = REGISTRY[action]
    params = {slot: _filler(p) for q in spec.params if q.required for slot, p in slots(q)}
    body = raw.v1(action, {**params, param: "attestation-document"}).json()
    assert (body["Code"], body["HttpStatus"]) == ("UnsupportedOperation", 400), (action, body)
    assert body["Message"] == next(u.message for u in spec.unsupported if u.name == param)
    # Without it the call goes on to the action (which may succeed: another test of the same
    # server may have created the secret named by the filler).
    assert raw.v1(action, params).json().get("Code") != "UnsupportedOperation"


def test_unsupported_parameters_are_the_recipients() -> None:
    """The test above covers every action that accepts Recipient, and ListKmsInstances' Filters
    (no documented grammar)."""
    assert UNSUPPORTED == [
        ("AsymmetricDecrypt", "Recipient"), ("Decrypt", "Recipient"),
        ("GenerateDataKey", "Recipient"), ("GetSecretValue", "Recipient"), ("ListKmsInstances", "Filters"),
    ]  # fmt: skip


def test_server_keeps_serving_after_bad_input(raw: RawSigner) -> None:
    """After the bad-input storm the same server still answers signed requests."""
    assert raw.v1("ListKeys").status == 200
