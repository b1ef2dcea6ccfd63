"""Paged actions: each PageNumber and PageSize declared as alibaba-kms-api.md documents it.

``REFERENCE`` is written from the reference (§9.12's table and each action's section in §12),
not from the code: a table that drifts from it fails here.
"""

from __future__ import annotations

import pytest

from openkms.api import KMS_ACTIONS as REGISTRY
from openkms.api.paging import MAX_INTEGER, PageSize
from openkms.api.spec import Param
from openkms.wire import errors

# action: (PageSize default, lowest, highest)
REFERENCE = {
    "ListKeys": (10, 1, 100),  # "Page size 1-100, default 10."
    "ListAliases": (10, 0, 100),  # "Page size 0-100, default 10. (documented lower bound 0)."
    "ListAliasesByKeyId": (10, 0, 101),  # "Page size 0-101, default 10."
    "ListKeyVersions": (10, 0, 101),  # "Page size 0-101, default 10."
    "ListSecrets": (10, 1, 100),  # "Page size 1-100, default 10."
    "ListSecretVersionIds": (20, 1, 100),  # "Default 20 (no documented max; use 1-100)."
    # §9.12: "ListKmsInstances, ListNetworkRules, ListPolicies, ListApplicationAccessPoints | >= 1 | 1–100 | 20"
    "ListKmsInstances": (20, 1, 100),
    "ListNetworkRules": (20, 1, 100),
    "ListPolicies": (20, 1, 100),
    "ListApplicationAccessPoints": (20, 1, 100),
}


def _param(action: str, name: str) -> Param:
    return next(p for p in REGISTRY[action].params if p.name == name)


def _raw(action: str, **extra: str) -> dict[str, str]:
    """The required parameters of a paged action, plus ``extra``."""
    needed = {"KeyId": "key", "SecretName": "secret"}
    return {p.name: needed[p.name] for p in REGISTRY[action].params if p.required} | extra


def test_every_paged_action_is_in_the_reference_table() -> None:
    """The actions that declare a PageSize are exactly the ones listed above."""
    paged = {name for name, spec in REGISTRY.items() if any(p.name == "PageSize" for p in spec.params)}
    assert set(REFERENCE) == paged


@pytest.mark.parametrize("action", sorted(REFERENCE))
def test_page_size_range_and_default_match_the_reference(action: str) -> None:
    """PageSize: the documented default, lowest and highest value, read from the action table."""
    size = _param(action, "PageSize")
    assert isinstance(size, PageSize)
    assert REFERENCE[action] == (size.default, size.min, size.max)


@pytest.mark.parametrize("action", sorted(REFERENCE))
def test_page_number_is_one_or_more(action: str) -> None:
    """PageNumber: integer >= 1, default 1, up to the largest 32-bit Integer the SDKs send."""
    number = _param(action, "PageNumber")
    assert (int, 1, 1, MAX_INTEGER) == (number.kind, number.default, number.min, number.max)


@pytest.mark.parametrize("action", sorted(REFERENCE))
def test_page_size_edges_bind_and_one_beyond_is_refused(action: str) -> None:
    """The lowest and highest documented sizes bind; one below and one above are InvalidParameter."""
    default, lo, hi = REFERENCE[action]
    spec = REGISTRY[action]
    assert (default if lo == 0 else lo) == spec.bind(_raw(action, PageSize=str(lo)))["page_size"]
    assert hi == spec.bind(_raw(action, PageSize=str(hi)))["page_size"]
    assert default == spec.bind(_raw(action))["page_size"]
    for outside in (lo - 1, hi + 1):
        with pytest.raises(errors.InvalidParameter) as info:
            spec.bind(_raw(action, PageSize=str(outside)))
        assert f'"PageSize" is not valid. It must be in [{lo}, {hi}].' in info.value.message


@pytest.mark.parametrize("action", sorted(a for a, (_, lo, _) in REFERENCE.items() if lo == 0))
def test_page_size_zero_is_the_default_size(action: str) -> None:
    """Where 0 is documented, PageSize=0 asks for the default size (the answer echoes it)."""
    default = REFERENCE[action][0]
    assert default == REGISTRY[action].bind(_raw(action, PageSize="0"))["page_size"]


@pytest.mark.parametrize("action", sorted(REFERENCE))
def test_page_number_edges(action: str) -> None:
    """PageNumber 1 and 2**31-1 bind; 0 and 2**31 are InvalidParameter."""
    spec = REGISTRY[action]
    assert spec.bind(_raw(action, PageNumber="1"))["page_number"] == 1
    assert spec.bind(_raw(action, PageNumber=str(MAX_INTEGER)))["page_number"] == MAX_INTEGER
    for outside in (0, MAX_INTEGER + 1):
        with pytest.raises(errors.InvalidParameter):
            spec.bind(_raw(action, PageNumber=str(outside)))
