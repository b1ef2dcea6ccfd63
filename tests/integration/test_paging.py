"""Paging through a running server: every paged action takes the edges of its documented
PageSize range and refuses one beyond; PageSize 0, where documented, is a page of the default size.

The ranges come from the action tables (pinned to the reference by tests/unit/api/test_paging.py);
ListKeyVersions' edges are also sent with literal values through both official SDKs.
"""

from __future__ import annotations

import json
import secrets
import subprocess

import pytest
from alibabacloud_kms20160120 import models as m
from aliyunsdkkms.request.v20160120.ListKeyVersionsRequest import ListKeyVersionsRequest

from openkms.api import KMS_ACTIONS as REGISTRY
from openkms.api.paging import MAX_INTEGER
from tests.support.clients import OldClient, RawSigner, tea_client
from tests.support.server import CLI, ServerProcess

PAGED = sorted(name for name, spec in REGISTRY.items() if any(p.name == "PageSize" for p in spec.params))
ITEMS = {"ListKeys": "Keys", "ListAliases": "Aliases", "ListAliasesByKeyId": "Aliases",
         "ListKeyVersions": "KeyVersions", "ListSecrets": "SecretList", "ListSecretVersionIds": "VersionIds",
         "ListKmsInstances": "KmsInstances", "ListNetworkRules": "NetworkRules", "ListPolicies": "Policies",
         "ListApplicationAccessPoints": "ApplicationAccessPoints"}  # fmt: skip


@pytest.fixture(scope="module")
def targets(server: ServerProcess) -> dict[str, str]:
    """A key with 12 versions and 12 aliases, and a secret: something for every paged action to list."""
    tea = tea_client(server.endpoint)
    key_id = tea.create_key(m.CreateKeyRequest()).body.key_metadata.key_id
    for _ in range(11):
        tea.create_key_version(m.CreateKeyVersionRequest(key_id=key_id))
    for _ in range(12):
        tea.create_alias(m.CreateAliasRequest(alias_name=f"alias/paging-{secrets.token_hex(6)}", key_id=key_id))
    name = f"paging-{secrets.token_hex(6)}"
    tea.create_secret(m.CreateSecretRequest(secret_name=name, version_id="v1", secret_data="x"))
    # An instance, a network rule, a policy and an access point for the group J and K listings.
    out = subprocess.run(
        [*CLI, "instance", "create", "--name", f"paging-{secrets.token_hex(4)}", *server.store_args],
        env=server.env, check=True, capture_output=True, text=True, timeout=60,
    ).stdout
    rule, policy = f"paging-{secrets.token_hex(4)}", f"paging-{secrets.token_hex(4)}"
    tea.create_network_rule(m.CreateNetworkRuleRequest(name=rule, type="Private", source_private_ip="10.0.0.1"))
    tea.create_policy(m.CreatePolicyRequest(
        name=policy, kms_instance=out.split()[0], permissions='["RbacPermission/Template/CryptoServiceKeyUser"]',
        resources='["key/*"]', access_control_rules=json.dumps({"NetworkRules": [rule]}),
    ))
    tea.create_application_access_point(m.CreateApplicationAccessPointRequest(
        name=f"paging-{secrets.token_hex(4)}", policies=json.dumps([policy]),
    ))
    return {"KeyId": key_id, "SecretName": name}


def _size(action: str) -> tuple[int, int, int]:
    size = next(p for p in REGISTRY[action].params if p.name == "PageSize")
    assert size.min is not None and size.max is not None
    return size.default, size.min, size.max


def _params(action: str, targets: dict[str, str], **extra: str) -> dict[str, str]:
    return {p.name: targets[p.name] for p in REGISTRY[action].params if p.required} | extra


def test_every_paged_action_is_listed() -> None:
    """The item names below cover every paged action of the registry."""
    assert set(ITEMS) == set(PAGED)


@pytest.mark.parametrize("action", PAGED)
def test_page_size_edges_are_accepted(raw: RawSigner, targets: dict[str, str], action: str) -> None:
    """The lowest and highest documented PageSize answer 200 and echo the size used."""
    default, lo, hi = _size(action)
    for size, echoed in ((lo, default if lo == 0 else lo), (hi, hi)):
        answer = raw.v1(action, _params(action, targets, PageSize=str(size)))
        assert answer.status == 200, (action, size, answer.json())
        assert echoed == answer.json()["PageSize"]
        assert ITEMS[action] in answer.json()


@pytest.mark.parametrize("action", PAGED)
def test_page_size_one_beyond_is_refused(raw: RawSigner, targets: dict[str, str], action: str) -> None:
    """One below the lowest and one above the highest PageSize are 400 InvalidParameter naming it."""
    _, lo, hi = _size(action)
    for size in (lo - 1, hi + 1):
        answer = raw.v1(action, _params(action, targets, PageSize=str(size)))
        body = answer.json()
        assert (answer.status, body["Code"]) == (400, "InvalidParameter"), (action, size)
        assert f'"PageSize" is not valid. It must be in [{lo}, {hi}].' in body["Message"]


@pytest.mark.parametrize("action", PAGED)
def test_last_page_number_is_an_empty_page(raw: RawSigner, targets: dict[str, str], action: str) -> None:
    """PageNumber 2**31-1 is accepted (an empty page with the TotalCount); 2**31 is refused."""
    body = raw.v1(action, _params(action, targets, PageNumber=str(MAX_INTEGER))).json()
    assert (body["PageNumber"], body["TotalCount"] > 0) == (MAX_INTEGER, True)
    assert next(iter(body[ITEMS[action]].values())) == []
    assert raw.v1(action, _params(action, targets, PageNumber=str(MAX_INTEGER + 1))).status == 400


def test_list_key_versions_edges_through_the_tea_sdk(tea, targets: dict[str, str]) -> None:  # type: ignore[no-untyped-def]
    """ListKeyVersions takes PageSize 0 (a page of 10 of the 12 versions) and 101 (all 12)."""
    zero = tea.list_key_versions(m.ListKeyVersionsRequest(key_id=targets["KeyId"], page_size=0)).body
    assert (zero.page_size, zero.total_count, len(zero.key_versions.key_version)) == (10, 12, 10)
    full = tea.list_key_versions(m.ListKeyVersionsRequest(key_id=targets["KeyId"], page_size=101)).body
    assert (full.page_size, full.total_count, len(full.key_versions.key_version)) == (101, 12, 12)
    assert [v.key_version_id for v in zero.key_versions.key_version] == [
        v.key_version_id for v in full.key_versions.key_version
    ][:10]


def test_list_key_versions_edges_through_the_old_sdk(old: OldClient, targets: dict[str, str]) -> None:
    """The old SDK's ListKeyVersionsRequest with PageSize 0 and 101 is answered, not refused."""
    for size, echoed, count in ((0, 10, 10), (101, 101, 12)):
        body = old.call(ListKeyVersionsRequest(), KeyId=targets["KeyId"], PageSize=size)
        assert (body["PageSize"], body["TotalCount"], len(body["KeyVersions"]["KeyVersion"])) == (echoed, 12, count)
