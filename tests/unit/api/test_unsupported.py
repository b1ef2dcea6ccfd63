"""Parameters refused by the tables: ``Recipient`` (attested decryption) is declared once and
answers 400 UnsupportedOperation for every action that takes it, before the handler runs."""

from __future__ import annotations

from dataclasses import replace

import pytest

from openkms.api import KMS_ACTIONS as REGISTRY
from openkms.api.docs import render
from openkms.api.spec import ActionSpec, Param
from openkms.api.symmetric import RECIPIENT
from openkms.wire import errors

# The actions whose Alibaba definition has a Recipient (reference §14.3).
RECIPIENT_ACTIONS = ("AsymmetricDecrypt", "Decrypt", "GenerateDataKey", "GetSecretValue")


def _required(spec: ActionSpec) -> dict[str, str]:
    """A value for each required parameter that the table accepts."""

    def value(p: Param) -> str:
        return p.enum[0] if p.enum else "x"

    return {p.name: value(p) for p in spec.params if p.required}


def test_recipient_actions_are_the_ones_declaring_it() -> None:
    """Exactly these actions declare Recipient, each with the one shared declaration."""
    declaring = {name for name, spec in REGISTRY.items() for u in spec.unsupported if u.name == "Recipient"}
    assert set(RECIPIENT_ACTIONS) == declaring
    for name in RECIPIENT_ACTIONS:
        assert RECIPIENT in REGISTRY[name].unsupported
        assert all(p.name != "Recipient" for p in REGISTRY[name].params)


@pytest.mark.parametrize("action", RECIPIENT_ACTIONS)
def test_recipient_is_unsupported_operation(action: str) -> None:
    """Given a Recipient, binding stops with 400 UnsupportedOperation and the handler never runs."""
    called: list[object] = []
    spec = replace(REGISTRY[action], handler=lambda *a, **k: called.append(a) or {})
    with pytest.raises(errors.UnsupportedOperation) as info:
        spec.bind({**_required(spec), "Recipient": "attestation-document"})
    assert (info.value.code, info.value.http_status) == ("UnsupportedOperation", 400)
    assert info.value.message == "Recipient (attested decryption) is not supported."
    assert called == []


@pytest.mark.parametrize("action", RECIPIENT_ACTIONS)
def test_no_recipient_binds_without_it(action: str) -> None:
    """Absent or empty, Recipient is no refusal and the handler gets no argument for it."""
    spec = REGISTRY[action]
    for extra in ({}, {"Recipient": ""}):
        kwargs = spec.bind({**_required(spec), **extra})
        assert "recipient" not in kwargs


@pytest.mark.parametrize("action", RECIPIENT_ACTIONS)
def test_declared_parameters_are_checked_first(action: str) -> None:
    """A missing required parameter is still MissingParameter when a Recipient is also given."""
    spec = REGISTRY[action]
    first = next(p.name for p in spec.params if p.required)
    raw = {k: v for k, v in _required(spec).items() if k != first}
    with pytest.raises(errors.MissingParameter):
        spec.bind({**raw, "Recipient": "attestation-document"})


def test_api_page_documents_the_refusal() -> None:
    """docs/api.md lists Recipient under each action that refuses it."""
    page = render()
    for action in RECIPIENT_ACTIONS:
        section = page.split(f"## {action}\n", 1)[1].split("\n## ", 1)[0]
        assert "| Recipient | no |  | not supported: 400 `UnsupportedOperation` |" in section
