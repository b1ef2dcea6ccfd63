"""The RAM API (2015-05-01) through the official alibabacloud-ram20150501 SDK against a real
server: every action, the answers' shapes as the SDK's models read them, paging, and RAM's error
codes and statuses. A RAM user's AccessKey authenticates KMS calls.

Each test works on names of its own (a random suffix), so the tests share the session's server.
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Callable
from typing import Any

import pytest
from alibabacloud_kms20160120 import models as kms
from alibabacloud_ram20150501 import models as m
from alibabacloud_ram20150501.client import Client

from tests.support.clients import ram_client, tea_client
from tests.support.server import ServerProcess

DOC = json.dumps(
    {"Version": "1", "Statement": [{"Effect": "Allow", "Action": "kms:Encrypt", "Resource": "*"}]}
)
TRUST = json.dumps(
    {
        "Version": "1",
        "Statement": [
            {"Effect": "Allow", "Action": "sts:AssumeRole", "Principal": {"RAM": ["acs:ram::1:root"]}}
        ],
    }
)


@pytest.fixture(params=["v3", "v2"])
def ram(request: pytest.FixtureRequest, server: ServerProcess) -> Client:
    """The RAM SDK, signing with V3 (its default) or HMAC-SHA1."""
    return ram_client(server.endpoint, mode=request.param)


def _name(prefix: str) -> str:
    return f"{prefix}-{secrets.token_hex(4)}"


def _error(call: Callable[[], Any]) -> tuple[int, str]:
    """The HTTP status and RAM code the SDK raised for ``call``."""
    with pytest.raises(Exception) as caught:
        call()
    exc: Any = caught.value
    return int(exc.data.get("statusCode") or exc.status_code), str(exc.code)


# -- users -------------------------------------------------------------------------------------


def test_user_create_get_update_list_delete(ram: Client) -> None:
    """CreateUser/GetUser/UpdateUser/ListUsers/DeleteUser answer the SDK's User model."""
    name = _name("alice")
    made = ram.create_user(
        m.CreateUserRequest(user_name=name, display_name="Alice", comments="first")
    ).body.user
    assert (made.user_name, made.display_name, made.comments) == (name, "Alice", "first")
    assert made.user_id.isdigit() and made.create_date.endswith("Z")
    got = ram.get_user(m.GetUserRequest(user_name=name)).body.user
    assert (got.user_id, got.update_date) == (made.user_id, made.create_date)
    renamed = _name("alicia")
    updated = ram.update_user(
        m.UpdateUserRequest(
            user_name=name, new_user_name=renamed, new_display_name="Alicia", new_comments="second"
        )
    ).body.user
    assert (updated.user_id, updated.user_name, updated.display_name, updated.comments) == (
        made.user_id,
        renamed,
        "Alicia",
        "second",
    )
    assert _error(lambda: ram.get_user(m.GetUserRequest(user_name=name))) == (404, "EntityNotExist.User")
    listed = ram.list_users(m.ListUsersRequest(max_items=1000)).body
    assert renamed in [u.user_name for u in listed.users.user]
    ram.delete_user(m.DeleteUserRequest(user_name=renamed))
    assert _error(lambda: ram.delete_user(m.DeleteUserRequest(user_name=renamed))) == (
        404,
        "EntityNotExist.User",
    )


def test_user_errors(ram: Client) -> None:
    """A taken name is 409 EntityAlreadyExists.User; bad names are 400 with RAM's parameter codes."""
    name = _name("bob")
    ram.create_user(m.CreateUserRequest(user_name=name))
    assert _error(lambda: ram.create_user(m.CreateUserRequest(user_name=name))) == (
        409,
        "EntityAlreadyExists.User",
    )
    other = _name("carol")
    ram.create_user(m.CreateUserRequest(user_name=other))
    assert _error(lambda: ram.update_user(m.UpdateUserRequest(user_name=other, new_user_name=name))) == (
        409,
        "EntityAlreadyExists.User",
    )
    assert _error(lambda: ram.create_user(m.CreateUserRequest(user_name="bad name"))) == (
        400,
        "InvalidParameter.UserName.InvalidChars",
    )
    assert _error(lambda: ram.create_user(m.CreateUserRequest(user_name="x" * 65))) == (
        400,
        "InvalidParameter.UserName.Length",
    )
    assert _error(lambda: ram.create_user(m.CreateUserRequest())) == (400, "MissingParameter")
    assert _error(lambda: ram.list_users(m.ListUsersRequest(max_items=1001))) == (
        400,
        "InvalidParameter.MaxItems.Range",
    )
    assert _error(lambda: ram.list_users(m.ListUsersRequest(marker="!!"))) == (
        400,
        "InvalidParameter.Marker.Format",
    )


def test_list_users_pages_with_marker(ram: Client) -> None:
    """ListUsers pages by MaxItems: IsTruncated and a Marker while more follow, every user once."""
    prefix = _name("page")
    made = {f"{prefix}-{i}" for i in range(5)}
    for name in made:
        ram.create_user(m.CreateUserRequest(user_name=name))
    seen: list[str] = []
    marker = None
    while True:
        body = ram.list_users(m.ListUsersRequest(max_items=2, marker=marker)).body
        assert len(body.users.user) <= 2
        seen += [u.user_name for u in body.users.user]
        if not body.is_truncated:
            assert body.marker is None
            break
        marker = body.marker
    assert made <= set(seen)
    assert len(seen) == len(set(seen))
    assert seen == sorted(seen)


# -- AccessKeys -------------------------------------------------------------------------------


def test_user_access_keys_authenticate_kms_and_are_limited_to_two(ram: Client, server: ServerProcess) -> None:
    """A RAM user's AccessKey signs KMS calls; Inactive, it is 403 Forbidden.AccessKey; a third is
    409 LimitExceeded.User.AccessKey; the user cannot be deleted while it has one."""
    name = _name("dave")
    ram.create_user(m.CreateUserRequest(user_name=name))
    ak = ram.create_access_key(m.CreateAccessKeyRequest(user_name=name)).body.access_key
    assert (ak.status, len(ak.access_key_secret) >= 16) == ("Active", True)
    kms_client = tea_client(server.endpoint, "v3", ak.access_key_id, ak.access_key_secret)
    # Signed by the user, refused by the permission system until a policy allows it.
    assert _error(lambda: kms_client.create_key(kms.CreateKeyRequest())) == (403, "Forbidden.NoPermission")
    ram.attach_policy_to_user(
        m.AttachPolicyToUserRequest(policy_type="System", policy_name="AliyunKMSFullAccess", user_name=name)
    )
    assert kms_client.create_key(kms.CreateKeyRequest()).body.key_metadata.key_id
    second = ram.create_access_key(m.CreateAccessKeyRequest(user_name=name)).body.access_key
    assert _error(lambda: ram.create_access_key(m.CreateAccessKeyRequest(user_name=name))) == (
        409,
        "LimitExceeded.User.AccessKey",
    )
    listed = ram.list_access_keys(m.ListAccessKeysRequest(user_name=name)).body.access_keys.access_key
    assert {(k.access_key_id, k.status) for k in listed} == {
        (ak.access_key_id, "Active"),
        (second.access_key_id, "Active"),
    }
    ram.update_access_key(
        m.UpdateAccessKeyRequest(user_name=name, user_access_key_id=ak.access_key_id, status="Inactive")
    )
    assert [
        k.status
        for k in ram.list_access_keys(m.ListAccessKeysRequest(user_name=name)).body.access_keys.access_key
        if k.access_key_id == ak.access_key_id
    ] == ["Inactive"]
    fresh = tea_client(server.endpoint, "v3", ak.access_key_id, ak.access_key_secret)
    time.sleep(1.1)  # the credential cache's bound
    assert _error(lambda: fresh.list_keys(kms.ListKeysRequest())) == (403, "Forbidden.AccessKey")
    assert _error(lambda: ram.delete_user(m.DeleteUserRequest(user_name=name))) == (
        409,
        "DeleteConflict.User.AccessKey",
    )
    assert _error(
        lambda: ram.update_access_key(
            m.UpdateAccessKeyRequest(user_name=name, user_access_key_id="LTAInotthere", status="Active")
        )
    ) == (404, "EntityNotExist.User.AccessKey")
    assert _error(
        lambda: ram.update_access_key(
            m.UpdateAccessKeyRequest(user_name=name, user_access_key_id=ak.access_key_id, status="Sleeping")
        )
    ) == (400, "InvalidParameter.Status")
    for key in (ak, second):
        ram.delete_access_key(m.DeleteAccessKeyRequest(user_name=name, user_access_key_id=key.access_key_id))
    assert _error(
        lambda: ram.delete_access_key(
            m.DeleteAccessKeyRequest(user_name=name, user_access_key_id=ak.access_key_id)
        )
    ) == (404, "EntityNotExist.User.AccessKey")
    ram.detach_policy_from_user(
        m.DetachPolicyFromUserRequest(policy_type="System", policy_name="AliyunKMSFullAccess", user_name=name)
    )
    ram.delete_user(m.DeleteUserRequest(user_name=name))


def test_access_key_actions_without_user_name_act_on_the_caller(ram: Client, server: ServerProcess) -> None:
    """Without UserName, the AccessKey actions manage the caller's own pairs: the root's for the
    root, the signing user's for a RAM user."""
    root_keys = ram.list_access_keys(m.ListAccessKeysRequest()).body.access_keys.access_key
    assert "LTAI5tTestAccessKeyId0001" in [k.access_key_id for k in root_keys]
    name = _name("erin")
    ram.create_user(m.CreateUserRequest(user_name=name))
    ak = ram.create_access_key(m.CreateAccessKeyRequest(user_name=name)).body.access_key
    as_user = ram_client(server.endpoint, ak.access_key_id, ak.access_key_secret)
    # A RAM user needs ram:ListAccessKeys even for its own pairs.
    assert _error(lambda: as_user.list_access_keys(m.ListAccessKeysRequest())) == (403, "Forbidden.NoPermission")
    own_keys = json.dumps(
        {"Version": "1", "Statement": [{"Effect": "Allow", "Action": "ram:ListAccessKeys", "Resource": "*"}]}
    )
    policy = _name("own-keys")
    ram.create_policy(m.CreatePolicyRequest(policy_name=policy, policy_document=own_keys))
    ram.attach_policy_to_user(m.AttachPolicyToUserRequest(policy_type="Custom", policy_name=policy, user_name=name))
    own = as_user.list_access_keys(m.ListAccessKeysRequest()).body.access_keys.access_key
    assert [k.access_key_id for k in own] == [ak.access_key_id]


# -- groups ------------------------------------------------------------------------------------


def test_groups_and_members(ram: Client) -> None:
    """Groups: create, get, list; members added, listed both ways, removed; the conflicts."""
    group, user = _name("ops"), _name("frank")
    made = ram.create_group(m.CreateGroupRequest(group_name=group, comments="operators")).body.group
    assert (made.group_name, made.comments) == (group, "operators")
    assert _error(lambda: ram.create_group(m.CreateGroupRequest(group_name=group))) == (
        409,
        "EntityAlreadyExists.Group",
    )
    assert ram.get_group(m.GetGroupRequest(group_name=group)).body.group.group_id == made.group_id
    assert group in [
        g.group_name for g in ram.list_groups(m.ListGroupsRequest(max_items=1000)).body.groups.group
    ]
    ram.create_user(m.CreateUserRequest(user_name=user, display_name="Frank"))
    ram.add_user_to_group(m.AddUserToGroupRequest(group_name=group, user_name=user))
    assert _error(
        lambda: ram.add_user_to_group(m.AddUserToGroupRequest(group_name=group, user_name=user))
    ) == (
        409,
        "EntityAlreadyExists.User.Group",
    )
    groups = ram.list_groups_for_user(m.ListGroupsForUserRequest(user_name=user)).body.groups.group
    assert [(g.group_name, g.comments) for g in groups] == [(group, "operators")]
    assert groups[0].join_date.endswith("Z")
    members = ram.list_users_for_group(m.ListUsersForGroupRequest(group_name=group)).body
    assert ([(u.user_name, u.display_name) for u in members.users.user], members.is_truncated) == (
        [(user, "Frank")],
        False,
    )
    assert _error(lambda: ram.delete_group(m.DeleteGroupRequest(group_name=group))) == (
        409,
        "DeleteConflict.Group.User",
    )
    assert _error(lambda: ram.delete_user(m.DeleteUserRequest(user_name=user))) == (
        409,
        "DeleteConflict.User.Group",
    )
    ram.remove_user_from_group(m.RemoveUserFromGroupRequest(group_name=group, user_name=user))
    assert _error(
        lambda: ram.remove_user_from_group(m.RemoveUserFromGroupRequest(group_name=group, user_name=user))
    ) == (
        404,
        "EntityNotExist.User.Group",
    )
    ram.delete_group(m.DeleteGroupRequest(group_name=group))
    assert _error(lambda: ram.get_group(m.GetGroupRequest(group_name=group))) == (404, "EntityNotExist.Group")
    assert _error(lambda: ram.create_group(m.CreateGroupRequest(group_name="no_underscores"))) == (
        400,
        "InvalidParameter.GroupName.InvalidChars",
    )


# -- roles -------------------------------------------------------------------------------------


def test_roles(ram: Client, server: ServerProcess) -> None:
    """Roles: the ARN with the name lowercased, names unique in any case, the default and bounds of
    MaxSessionDuration, a malformed trust policy refused, update, list, delete."""
    name = _name("Admin")
    role = ram.create_role(
        m.CreateRoleRequest(role_name=name, assume_role_policy_document=TRUST, description="d")
    ).body.role
    account = server.query("SELECT value FROM meta WHERE name = 'account_id'")[0][0]
    assert (role.arn, role.max_session_duration, role.description) == (
        f"acs:ram::{account}:role/{name.lower()}",
        3600,
        "d",
    )
    assert json.loads(role.assume_role_policy_document) == json.loads(TRUST)
    assert _error(
        lambda: ram.create_role(
            m.CreateRoleRequest(role_name=name.upper(), assume_role_policy_document=TRUST)
        )
    ) == (
        409,
        "EntityAlreadyExists.Role",
    )
    assert ram.get_role(m.GetRoleRequest(role_name=name.lower())).body.role.role_id == role.role_id
    for bad in (3599, 43201):
        assert _error(
            lambda bad=bad: ram.create_role(
                m.CreateRoleRequest(
                    role_name=_name("r"),
                    assume_role_policy_document=TRUST,
                    max_session_duration=bad,
                )
            )
        ) == (400, "InvalidParameter.MaxSessionDuration.Range")
    assert _error(
        lambda: ram.create_role(m.CreateRoleRequest(role_name=_name("r"), assume_role_policy_document="{}"))
    ) == (
        400,
        "MalformedPolicyDocument",
    )
    updated = ram.update_role(
        m.UpdateRoleRequest(role_name=name, new_description="new", new_max_session_duration=7200)
    ).body.role
    assert (updated.description, updated.max_session_duration) == ("new", 7200)
    listed = ram.list_roles(m.ListRolesRequest(max_items=1000)).body
    assert name in [r.role_name for r in listed.roles.role]
    ram.delete_role(m.DeleteRoleRequest(role_name=name))
    assert _error(lambda: ram.get_role(m.GetRoleRequest(role_name=name))) == (404, "EntityNotExist.Role")


# -- policies and versions ---------------------------------------------------------------------


def _doc(action: str) -> str:
    return json.dumps({"Version": "1", "Statement": [{"Effect": "Allow", "Action": action, "Resource": "*"}]})


def test_custom_policy_and_versions(ram: Client) -> None:
    """A custom policy: v1 default; versions v2..v5; the sixth refused unless rotated; default
    switched; the default version cannot be deleted; deleting with versions left is a conflict."""
    name = _name("Crypto")
    made = ram.create_policy(
        m.CreatePolicyRequest(policy_name=name, policy_document=DOC, description="use")
    ).body.policy
    assert (made.policy_name, made.policy_type, made.default_version, made.description) == (
        name,
        "Custom",
        "v1",
        "use",
    )
    assert _error(
        lambda: ram.create_policy(m.CreatePolicyRequest(policy_name=name, policy_document=DOC))
    ) == (
        409,
        "EntityAlreadyExists.Policy",
    )
    got = ram.get_policy(m.GetPolicyRequest(policy_name=name, policy_type="Custom")).body
    assert (got.policy.attachment_count, got.default_policy_version.version_id) == (0, "v1")
    assert json.loads(got.default_policy_version.policy_document) == json.loads(DOC)
    for n in range(2, 6):
        v = ram.create_policy_version(
            m.CreatePolicyVersionRequest(policy_name=name, policy_document=_doc(f"kms:A{n}"))
        ).body
        assert (v.policy_version.version_id, v.policy_version.is_default_version) == (f"v{n}", False)
    assert _error(
        lambda: ram.create_policy_version(
            m.CreatePolicyVersionRequest(policy_name=name, policy_document=_doc("kms:A6"))
        )
    ) == (409, "LimitExceeded.Policy.Version")
    rotated = ram.create_policy_version(
        m.CreatePolicyVersionRequest(
            policy_name=name,
            policy_document=_doc("kms:A6"),
            set_as_default=True,
            rotate_strategy="DeleteOldestNonDefaultVersionWhenLimitExceeded",
        )
    ).body.policy_version
    assert (rotated.version_id, rotated.is_default_version) == ("v6", True)
    versions = ram.list_policy_versions(
        m.ListPolicyVersionsRequest(policy_name=name, policy_type="Custom")
    ).body
    ids = [(v.version_id, v.is_default_version) for v in versions.policy_versions.policy_version]
    assert ids == [("v1", False), ("v3", False), ("v4", False), ("v5", False), ("v6", True)]
    ram.set_default_policy_version(m.SetDefaultPolicyVersionRequest(policy_name=name, version_id="v1"))
    assert (
        ram.get_policy_version(
            m.GetPolicyVersionRequest(policy_name=name, policy_type="Custom", version_id="v1")
        ).body.policy_version.is_default_version
        is True
    )
    assert _error(
        lambda: ram.delete_policy_version(m.DeletePolicyVersionRequest(policy_name=name, version_id="v1"))
    ) == (
        409,
        "DeleteConflict.Policy.Version.Default",
    )
    assert _error(
        lambda: ram.get_policy_version(
            m.GetPolicyVersionRequest(policy_name=name, policy_type="Custom", version_id="v2")
        )
    ) == (404, "EntityNotExist.Policy.Version")
    assert _error(
        lambda: ram.get_policy_version(
            m.GetPolicyVersionRequest(policy_name=name, policy_type="Custom", version_id="first")
        )
    ) == (400, "InvalidParameter.VersionId.Format")
    assert _error(lambda: ram.delete_policy(m.DeletePolicyRequest(policy_name=name))) == (
        409,
        "DeleteConflict.Policy.Version",
    )
    for v in ("v3", "v4", "v5", "v6"):
        ram.delete_policy_version(m.DeletePolicyVersionRequest(policy_name=name, version_id=v))
    ram.delete_policy(m.DeletePolicyRequest(policy_name=name))
    assert _error(lambda: ram.get_policy(m.GetPolicyRequest(policy_name=name, policy_type="Custom"))) == (
        404,
        "EntityNotExist.Policy",
    )


def test_policy_document_and_type_errors(ram: Client) -> None:
    """Malformed documents are 400 MalformedPolicyDocument; a PolicyType other than System or
    Custom is 400 InvalidParameter.PolicyType; an oversized document is .Length."""
    for bad in (
        "not json",
        "[]",
        '{"Version":"2","Statement":[]}',
        '{"Version":"1","Statement":[]}',
        '{"Version":"1","Statement":[{"Effect":"Maybe"}]}',
    ):
        assert _error(
            lambda bad=bad: ram.create_policy(
                m.CreatePolicyRequest(policy_name=_name("p"), policy_document=bad)
            )
        ) == (
            400,
            "MalformedPolicyDocument",
        )
    assert _error(lambda: ram.get_policy(m.GetPolicyRequest(policy_name="x", policy_type="Managed"))) == (
        400,
        "InvalidParameter.PolicyType",
    )
    assert _error(
        lambda: ram.create_policy(m.CreatePolicyRequest(policy_name=_name("p"), policy_document="x" * 6145))
    ) == (
        400,
        "InvalidParameter.PolicyDocument.Length",
    )


def test_system_policies_are_built_in(ram: Client) -> None:
    """System policies are listed, readable, attachable and cannot be recreated as custom ones."""
    listed = ram.list_policies(
        m.ListPoliciesRequest(policy_type="System", max_items=1000)
    ).body.policies.policy
    names = {p.policy_name for p in listed}
    assert {"AliyunKMSFullAccess", "AliyunKMSCryptoUserAccess", "AliyunSTSAssumeRoleAccess"} <= names
    got = ram.get_policy(m.GetPolicyRequest(policy_name="AliyunKMSFullAccess", policy_type="System")).body
    assert json.loads(got.default_policy_version.policy_document)["Statement"][0]["Action"] == "kms:*"
    assert _error(
        lambda: ram.create_policy(
            m.CreatePolicyRequest(policy_name="AliyunKMSFullAccess", policy_document=DOC)
        )
    ) == (
        409,
        "EntityAlreadyExists.Policy",
    )
    assert _error(
        lambda: ram.get_policy(m.GetPolicyRequest(policy_name="NoSuchSystemPolicy", policy_type="System"))
    ) == (
        404,
        "EntityNotExist.Policy",
    )


def test_list_policies_pages_across_system_and_custom(ram: Client) -> None:
    """ListPolicies without a type pages through system then custom policies, each once."""
    seen: list[tuple[str, str]] = []
    marker = None
    while True:
        body = ram.list_policies(m.ListPoliciesRequest(max_items=3, marker=marker)).body
        seen += [(p.policy_type, p.policy_name) for p in body.policies.policy]
        if not body.is_truncated:
            break
        marker = body.marker
    assert len(seen) == len(set(seen))
    kinds = [kind for kind, _ in seen]
    assert kinds == sorted(kinds, key=lambda k: k != "System")
    assert ("System", "AliyunKMSFullAccess") in seen


# -- attachments -------------------------------------------------------------------------------


def test_attachments_to_users_groups_and_roles(ram: Client) -> None:
    """Attach and detach for each principal type, ListPoliciesFor*, ListEntitiesForPolicy, and the
    conflicts attachments cause."""
    policy, user, group, role = _name("P"), _name("gina"), _name("G"), _name("R")
    ram.create_policy(m.CreatePolicyRequest(policy_name=policy, policy_document=DOC))
    ram.create_user(m.CreateUserRequest(user_name=user))
    ram.create_group(m.CreateGroupRequest(group_name=group))
    ram.create_role(m.CreateRoleRequest(role_name=role, assume_role_policy_document=TRUST))
    ram.attach_policy_to_user(
        m.AttachPolicyToUserRequest(policy_type="Custom", policy_name=policy, user_name=user)
    )
    ram.attach_policy_to_user(
        m.AttachPolicyToUserRequest(policy_type="System", policy_name="AliyunKMSFullAccess", user_name=user)
    )
    ram.attach_policy_to_group(
        m.AttachPolicyToGroupRequest(policy_type="Custom", policy_name=policy, group_name=group)
    )
    ram.attach_policy_to_role(
        m.AttachPolicyToRoleRequest(policy_type="Custom", policy_name=policy, role_name=role)
    )
    assert _error(
        lambda: ram.attach_policy_to_user(
            m.AttachPolicyToUserRequest(policy_type="Custom", policy_name=policy, user_name=user)
        )
    ) == (409, "EntityAlreadyExists.User.Policy")
    assert _error(
        lambda: ram.attach_policy_to_role(
            m.AttachPolicyToRoleRequest(policy_type="Custom", policy_name=policy, role_name=role)
        )
    ) == (409, "EntityAlreadyExists.Role.Policy")
    assert _error(
        lambda: ram.attach_policy_to_user(
            m.AttachPolicyToUserRequest(policy_type="Custom", policy_name=_name("none"), user_name=user)
        )
    ) == (404, "EntityNotExist.Policy")
    assert _error(
        lambda: ram.attach_policy_to_user(
            m.AttachPolicyToUserRequest(policy_type="Custom", policy_name=policy, user_name=_name("nobody"))
        )
    ) == (404, "EntityNotExist.User")
    for_user = ram.list_policies_for_user(m.ListPoliciesForUserRequest(user_name=user)).body.policies.policy
    assert [(p.policy_type, p.policy_name, p.default_version) for p in for_user] == [
        ("Custom", policy, "v1"),
        ("System", "AliyunKMSFullAccess", "v1"),
    ]
    assert [
        p.policy_name
        for p in ram.list_policies_for_group(
            m.ListPoliciesForGroupRequest(group_name=group)
        ).body.policies.policy
    ] == [policy]
    assert [
        p.policy_name
        for p in ram.list_policies_for_role(m.ListPoliciesForRoleRequest(role_name=role)).body.policies.policy
    ] == [policy]
    entities = ram.list_entities_for_policy(
        m.ListEntitiesForPolicyRequest(policy_name=policy, policy_type="Custom")
    ).body
    assert [u.user_name for u in entities.users.user] == [user]
    assert [g.group_name for g in entities.groups.group] == [group]
    assert [(r.role_name, r.arn.endswith(f":role/{role.lower()}")) for r in entities.roles.role] == [
        (role, True)
    ]
    assert (
        ram.get_policy(
            m.GetPolicyRequest(policy_name=policy, policy_type="Custom")
        ).body.policy.attachment_count
        == 3
    )
    assert _error(lambda: ram.delete_policy(m.DeletePolicyRequest(policy_name=policy))) == (
        409,
        "DeleteConflict.Policy.Group",
    )
    assert _error(lambda: ram.delete_user(m.DeleteUserRequest(user_name=user))) == (
        409,
        "DeleteConflict.User.Policy",
    )
    assert _error(lambda: ram.delete_group(m.DeleteGroupRequest(group_name=group))) == (
        409,
        "DeleteConflict.Group.Policy",
    )
    assert _error(lambda: ram.delete_role(m.DeleteRoleRequest(role_name=role))) == (
        409,
        "DeleteConflict.Role.Policy",
    )
    ram.detach_policy_from_user(
        m.DetachPolicyFromUserRequest(policy_type="System", policy_name="AliyunKMSFullAccess", user_name=user)
    )
    ram.detach_policy_from_group(
        m.DetachPolicyFromGroupRequest(policy_type="Custom", policy_name=policy, group_name=group)
    )
    ram.detach_policy_from_role(
        m.DetachPolicyFromRoleRequest(policy_type="Custom", policy_name=policy, role_name=role)
    )
    assert _error(
        lambda: ram.detach_policy_from_role(
            m.DetachPolicyFromRoleRequest(policy_type="Custom", policy_name=policy, role_name=role)
        )
    ) == (404, "EntityNotExist.Role.Policy")
    ram.delete_group(m.DeleteGroupRequest(group_name=group))
    ram.delete_role(m.DeleteRoleRequest(role_name=role))
    # CascadingDelete detaches what is left (the user's attachment) and deletes the policy.
    ram.delete_policy(m.DeletePolicyRequest(policy_name=policy, cascading_delete=True))
    assert ram.list_policies_for_user(m.ListPoliciesForUserRequest(user_name=user)).body.policies.policy == []
    ram.delete_user(m.DeleteUserRequest(user_name=user))


def test_kms_versions_and_unknown_versions_are_answered_as_before(server: ServerProcess) -> None:
    """RAM actions answer only under RAM's version and KMS actions only under KMS's; an unknown
    Version is 400 InvalidVersion."""
    from tests.support.clients import RawSigner

    raw = RawSigner(server.endpoint)
    assert raw.v1("ListUsers", version="2015-05-01").status == 200
    assert (raw.v1("ListUsers").status, raw.v1("ListUsers").json()["Code"]) == (404, "InvalidAction.NotFound")
    answer = raw.v1("ListKeys", version="2015-05-01")
    assert (answer.status, answer.json()["Code"]) == (404, "InvalidAction.NotFound")
    answer = raw.v1("ListUsers", version="2015-04-01")  # STS's version: no ListUsers there
    assert (answer.status, answer.json()["Code"]) == (404, "InvalidAction.NotFound")
    answer = raw.v1("ListUsers", version="2014-01-01")
    assert (answer.status, answer.json()["Code"]) == (400, "InvalidVersion")
