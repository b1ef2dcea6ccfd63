"""RAM's rules in the services: quotas, case-insensitive role names, renames, the accounts'
separation and the policy-document seam (service/ram.py, service/ram_policies.py)."""

from __future__ import annotations

import json

import pytest

from openkms.domain import ram
from openkms.domain.ram import (
    DeleteConflict,
    EntityAlreadyExists,
    EntityNotExist,
    MalformedPolicyDocument,
    QuotaExceeded,
)
from openkms.service.ram_policies import check_document
from openkms.store import accounts
from tests.support.inprocess import World

DOC = json.dumps({"Version": "1", "Statement": [{"Effect": "Allow", "Action": "kms:*", "Resource": "*"}]})
TRUST = json.dumps(
    {
        "Version": "1",
        "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole", "Principal": {"RAM": ["acs:ram::1:root"]}}],
    }
)


def _code(exc: pytest.ExceptionInfo[ram.RamError]) -> str:
    return exc.value.code


def test_a_user_joins_at_most_ten_groups(world: World) -> None:
    """The eleventh group is LimitExceeded.User.Group."""
    svc, acct = world.services.ram, world.dep.account_id
    svc.create_user(acct, "u")
    for n in range(10):
        svc.create_group(acct, f"g{n}")
        svc.add_user_to_group(acct, f"g{n}", "u")
    svc.create_group(acct, "g10")
    with pytest.raises(QuotaExceeded) as exc:
        svc.add_user_to_group(acct, "g10", "u")
    assert _code(exc) == "LimitExceeded.User.Group"


def test_a_principal_takes_at_most_ten_custom_policies(world: World) -> None:
    """The eleventh custom policy attached to a role is LimitExceeded.Role.Policy; a system policy
    still attaches (its own quota)."""
    acct, policies = world.dep.account_id, world.services.ram_policies
    world.services.ram.create_role(acct, "r", TRUST)
    for n in range(11):
        policies.create_policy(acct, f"p{n}", DOC)
    for n in range(10):
        policies.attach(acct, ram.CUSTOM, f"p{n}", ram.ROLE, "R")
    with pytest.raises(QuotaExceeded) as exc:
        policies.attach(acct, ram.CUSTOM, "p10", ram.ROLE, "r")
    assert _code(exc) == "LimitExceeded.Role.Policy"
    policies.attach(acct, ram.SYSTEM, "AliyunKMSFullAccess", ram.ROLE, "r")


def test_account_quotas(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    """Users, groups, roles and custom policies beyond the account's quota are LimitExceeded.*."""
    acct, svc = world.dep.account_id, world.services.ram
    for name in ("MAX_USERS", "MAX_GROUPS", "MAX_ROLES", "MAX_CUSTOM_POLICIES"):
        monkeypatch.setattr(ram, name, 1)
    svc.create_user(acct, "u1")
    svc.create_group(acct, "g1")
    svc.create_role(acct, "r1", TRUST)
    world.services.ram_policies.create_policy(acct, "p1", DOC)
    attempts = {
        "LimitExceeded.User": lambda: svc.create_user(acct, "u2"),
        "LimitExceeded.Group": lambda: svc.create_group(acct, "g2"),
        "LimitExceeded.Role": lambda: svc.create_role(acct, "r2", TRUST),
        "LimitExceeded.Policy": lambda: world.services.ram_policies.create_policy(acct, "p2", DOC),
    }
    for code, attempt in attempts.items():
        with pytest.raises(QuotaExceeded) as exc:
            attempt()
        assert _code(exc) == code


def test_role_names_are_unique_in_any_case(world: World) -> None:
    """Roles Admin and ADMIN cannot both exist; either spelling finds the role; the ARN is lower case."""
    acct, svc = world.dep.account_id, world.services.ram
    role = svc.create_role(acct, "Admin", TRUST)
    with pytest.raises(EntityAlreadyExists):
        svc.create_role(acct, "ADMIN", TRUST)
    assert svc.get_role(acct, "aDmIn").role_id == role.role_id
    assert ram.role_arn(acct, role.role_name) == f"acs:ram::{acct}:role/admin"


def test_accounts_do_not_see_each_other(world: World) -> None:
    """A user of one account is not found in another, which may use the same name."""
    acct, svc = world.dep.account_id, world.services.ram
    other = "9000000000000009"
    with world.dep.db.write() as tx:
        accounts.insert_account(tx, other, "other", 0.0)
    svc.create_user(acct, "same")
    with pytest.raises(EntityNotExist):
        svc.get_user(other, "same")
    svc.create_user(other, "same")
    assert [u.user_name for u in svc.list_users(other).items] == ["same"]
    pair = svc.create_access_key(acct, "same")
    with pytest.raises(EntityNotExist) as exc:
        svc.delete_access_key(other, "same", pair.access_key_id)
    assert _code(exc) == "EntityNotExist.User.AccessKey"


def test_a_policy_version_is_never_renumbered(world: World) -> None:
    """After v2 is deleted the next version is v3, not v2 again."""
    acct, policies = world.dep.account_id, world.services.ram_policies
    policies.create_policy(acct, "p", DOC)
    policies.create_version(acct, "p", DOC)
    policies.delete_version(acct, "p", "v2")
    assert policies.create_version(acct, "p", DOC).version_id == "v3"
    with pytest.raises(DeleteConflict) as exc:
        policies.delete_policy(acct, "p")
    assert _code(exc) == "DeleteConflict.Policy.Version"


@pytest.mark.parametrize(
    "document",
    [
        "",
        "null",
        "[]",
        '{"Statement": [{"Effect": "Allow"}]}',
        '{"Version": 1, "Statement": [{"Effect": "Allow"}]}',
        '{"Version": "1"}',
        '{"Version": "1", "Statement": {}}',
        '{"Version": "1", "Statement": ["x"]}',
        '{"Version": "1", "Statement": [{"Effect": "allow"}]}',
        "[" * 100000,
    ],
)
def test_check_document_refuses_what_is_not_a_policy(document: str) -> None:
    """check_document refuses anything but a JSON object with Version "1" and a list of statements
    with an Effect of Allow or Deny."""
    with pytest.raises(MalformedPolicyDocument):
        check_document(document)


def test_check_document_accepts_a_policy() -> None:
    """A well-formed policy passes."""
    check_document(DOC)


def test_markers_round_trip_and_strangers_are_refused() -> None:
    """A Marker names a position; one no List* answer gave is InvalidParameter.Marker.Format."""
    assert ram.decode_marker(ram.encode_marker("alice")) == "alice"
    with pytest.raises(ram.BadRamParameter) as exc:
        ram.decode_marker("***")
    assert _code(exc) == "InvalidParameter.Marker.Format"
