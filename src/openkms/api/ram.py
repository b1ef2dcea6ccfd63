"""RAM actions (API 2015-05-01) on users, their AccessKeys, groups and roles.

Every action works in the account of the AccessKey that signed the request. Answers carry the
members, and the member names, that the official RAM SDK's models read.
"""

from __future__ import annotations

from typing import Any

from openkms.api.ram_params import GROUP_NAME, MARKER, MAX_ITEMS, ROLE_NAME, USER_NAME, RamParam
from openkms.api.spec import ActionSpec, Handler, Param
from openkms.domain import ram
from openkms.domain.clock import iso
from openkms.service.context import CallContext
from openkms.service.ram import AccessKeyRecord, Group, Page, Role, User
from openkms.wire import errors

SERVICE = "ram"


def _spec(
    name: str, handler: Handler, params: tuple[Param, ...] = (), doc: str = "", *, inline: bool = False
) -> ActionSpec:
    return ActionSpec(name, handler, params, doc=doc, service=SERVICE, inline=inline)


def _paged(page: Page[Any], key: str, item: str, render: Any) -> dict[str, Any]:
    body: dict[str, Any] = {key: {item: [render(x) for x in page.items]}, "IsTruncated": page.truncated}
    if page.truncated:
        body["Marker"] = page.marker
    return body


# -- users ------------------------------------------------------------------------------------


def _user(u: User, *, updated: bool = True) -> dict[str, Any]:
    out = {
        "UserId": u.user_id,
        "UserName": u.user_name,
        "DisplayName": u.display_name,
        "Email": u.email,
        "MobilePhone": u.mobile_phone,
        "Comments": u.comments,
        "CreateDate": iso(u.created),
    }
    if updated:
        out["UpdateDate"] = iso(u.updated)
    return out


def create_user(
    ctx: CallContext,
    *,
    user_name: str,
    display_name: str | None,
    comments: str | None,
    email: str | None,
    mobile_phone: str | None,
) -> dict[str, Any]:
    user = ctx.services.ram.create_user(
        ctx.caller.account_uid, user_name, display_name or "", comments or "", email or "", mobile_phone or ""
    )
    return {"User": _user(user, updated=False)}


def get_user(ctx: CallContext, *, user_name: str) -> dict[str, Any]:
    user = ctx.services.ram.get_user(ctx.caller.account_uid, user_name)
    return {"User": {**_user(user), "LastLoginDate": ""}}


def update_user(
    ctx: CallContext,
    *,
    user_name: str,
    new_user_name: str | None,
    new_display_name: str | None,
    new_comments: str | None,
    new_email: str | None,
    new_mobile_phone: str | None,
) -> dict[str, Any]:
    user = ctx.services.ram.update_user(
        ctx.caller.account_uid,
        user_name,
        new_user_name=new_user_name,
        new_display_name=new_display_name,
        new_comments=new_comments,
        new_email=new_email,
        new_mobile_phone=new_mobile_phone,
    )
    return {"User": _user(user)}


def list_users(ctx: CallContext, *, marker: str | None, max_items: int) -> dict[str, Any]:
    return _paged(
        ctx.services.ram.list_users(ctx.caller.account_uid, marker, max_items), "Users", "User", _user
    )


def delete_user(ctx: CallContext, *, user_name: str) -> dict[str, Any]:
    ctx.services.ram.delete_user(ctx.caller.account_uid, user_name)
    return {}


# -- AccessKeys ---------------------------------------------------------------------------------


def _whose(ctx: CallContext, user_name: str | None) -> str | None:
    """The user whose AccessKeys an action manages: the one named, else the caller itself (None
    for an account's root). A role's session has no AccessKeys of its own: it must name the user."""
    if user_name:
        return user_name
    if ctx.caller.session is not None:
        raise errors.MissingParameter("UserName")
    if ctx.caller.user_id is None:
        return None
    return ctx.services.ram.user_name_of(ctx.caller.user_id)


def _pair(p: AccessKeyRecord) -> dict[str, Any]:
    return {"AccessKeyId": p.access_key_id, "Status": p.status, "CreateDate": iso(p.created)}


def create_access_key(ctx: CallContext, *, user_name: str | None) -> dict[str, Any]:
    made = ctx.services.ram.create_access_key(ctx.caller.account_uid, _whose(ctx, user_name))
    assert made.secret is not None
    return {"AccessKey": {**_pair(made), "AccessKeySecret": made.secret.reveal()}}


def update_access_key(
    ctx: CallContext, *, user_name: str | None, user_access_key_id: str, status: str
) -> dict[str, Any]:
    ctx.services.ram.update_access_key(
        ctx.caller.account_uid, _whose(ctx, user_name), user_access_key_id, status
    )
    return {}


def list_access_keys(ctx: CallContext, *, user_name: str | None) -> dict[str, Any]:
    found = ctx.services.ram.list_access_keys(ctx.caller.account_uid, _whose(ctx, user_name))
    return {"AccessKeys": {"AccessKey": [_pair(p) for p in found]}}


def delete_access_key(ctx: CallContext, *, user_name: str | None, user_access_key_id: str) -> dict[str, Any]:
    ctx.services.ram.delete_access_key(ctx.caller.account_uid, _whose(ctx, user_name), user_access_key_id)
    return {}


# -- groups -----------------------------------------------------------------------------------


def _group(g: Group, *, updated: bool = True) -> dict[str, Any]:
    out = {
        "GroupId": g.group_id,
        "GroupName": g.group_name,
        "Comments": g.comments,
        "CreateDate": iso(g.created),
    }
    if updated:
        out["UpdateDate"] = iso(g.updated)
    return out


def create_group(ctx: CallContext, *, group_name: str, comments: str | None) -> dict[str, Any]:
    return {
        "Group": _group(
            ctx.services.ram.create_group(ctx.caller.account_uid, group_name, comments or ""), updated=False
        )
    }


def get_group(ctx: CallContext, *, group_name: str) -> dict[str, Any]:
    return {"Group": _group(ctx.services.ram.get_group(ctx.caller.account_uid, group_name))}


def list_groups(ctx: CallContext, *, marker: str | None, max_items: int) -> dict[str, Any]:
    return _paged(
        ctx.services.ram.list_groups(ctx.caller.account_uid, marker, max_items), "Groups", "Group", _group
    )


def delete_group(ctx: CallContext, *, group_name: str) -> dict[str, Any]:
    ctx.services.ram.delete_group(ctx.caller.account_uid, group_name)
    return {}


def add_user_to_group(ctx: CallContext, *, group_name: str, user_name: str) -> dict[str, Any]:
    ctx.services.ram.add_user_to_group(ctx.caller.account_uid, group_name, user_name)
    return {}


def remove_user_from_group(ctx: CallContext, *, group_name: str, user_name: str) -> dict[str, Any]:
    ctx.services.ram.remove_user_from_group(ctx.caller.account_uid, group_name, user_name)
    return {}


def list_groups_for_user(ctx: CallContext, *, user_name: str) -> dict[str, Any]:
    found = ctx.services.ram.list_groups_for_user(ctx.caller.account_uid, user_name)
    groups = [
        {"GroupId": g.group_id, "GroupName": g.group_name, "Comments": g.comments, "JoinDate": iso(joined)}
        for g, joined in found
    ]
    return {"Groups": {"Group": groups}}


def list_users_for_group(
    ctx: CallContext, *, group_name: str, marker: str | None, max_items: int
) -> dict[str, Any]:
    page = ctx.services.ram.list_users_for_group(ctx.caller.account_uid, group_name, marker, max_items)
    return _paged(
        page,
        "Users",
        "User",
        lambda m: {"UserName": m[0].user_name, "DisplayName": m[0].display_name, "JoinDate": iso(m[1])},
    )


# -- roles ------------------------------------------------------------------------------------


def _role(r: Role, *, document: bool = True) -> dict[str, Any]:
    out: dict[str, Any] = {
        "RoleId": r.role_id,
        "RoleName": r.role_name,
        "Arn": ram.role_arn(r.account_uid, r.role_name),
        "Description": r.description,
        "MaxSessionDuration": r.max_session_duration,
        "CreateDate": iso(r.created),
        "UpdateDate": iso(r.updated),
    }
    if document:
        out["AssumeRolePolicyDocument"] = r.trust_policy
    return out


def create_role(
    ctx: CallContext,
    *,
    role_name: str,
    assume_role_policy_document: str,
    description: str | None,
    max_session_duration: int | None,
) -> dict[str, Any]:
    role = ctx.services.ram.create_role(
        ctx.caller.account_uid,
        role_name,
        assume_role_policy_document,
        description or "",
        max_session_duration,
    )
    return {"Role": _role(role)}


def get_role(ctx: CallContext, *, role_name: str) -> dict[str, Any]:
    role = ctx.services.ram.get_role(ctx.caller.account_uid, role_name)
    return {"Role": {**_role(role), "IsServiceLinkedRole": False}}


def update_role(
    ctx: CallContext,
    *,
    role_name: str,
    new_assume_role_policy_document: str | None,
    new_description: str | None,
    new_max_session_duration: int | None,
) -> dict[str, Any]:
    role = ctx.services.ram.update_role(
        ctx.caller.account_uid,
        role_name,
        new_trust_policy=new_assume_role_policy_document,
        new_description=new_description,
        new_max_session_duration=new_max_session_duration,
    )
    return {"Role": _role(role)}


def list_roles(ctx: CallContext, *, marker: str | None, max_items: int) -> dict[str, Any]:
    page = ctx.services.ram.list_roles(ctx.caller.account_uid, marker, max_items)
    return _paged(page, "Roles", "Role", lambda r: _role(r, document=False))


def delete_role(ctx: CallContext, *, role_name: str) -> dict[str, Any]:
    ctx.services.ram.delete_role(ctx.caller.account_uid, role_name)
    return {}


# -- the table --------------------------------------------------------------------------------

DISPLAY_NAME = RamParam("DisplayName", min=1, max=ram.MAX_DISPLAY_NAME)
COMMENTS = RamParam("Comments", min=1, max=ram.MAX_COMMENTS)
EMAIL = RamParam("Email", max=128)
MOBILE_PHONE = RamParam(
    "MobilePhone", max=32, pattern=r"[0-9]{1,5}-[0-9]{4,20}", doc="<country code>-<number>."
)
OPTIONAL_USER = RamParam(
    "UserName",
    min=1,
    max=ram.USER_NAME[1],
    pattern=ram.USER_NAME[0].pattern,
    doc="The user; absent, the caller itself (an account's root, or the RAM user that signed).",
)
ACCESS_KEY_ID = RamParam("UserAccessKeyId", required=True, max=64)
POLICY_DOCUMENT_DOC = 'JSON: Version "1" and a non-empty Statement list (each Effect Allow or Deny).'
TRUST_POLICY = RamParam(
    "AssumeRolePolicyDocument", required=True, max=ram.MAX_POLICY_DOCUMENT, doc=POLICY_DOCUMENT_DOC
)
DESCRIPTION = RamParam("Description", min=1, max=ram.MAX_DESCRIPTION)
SESSION = (ram.MIN_SESSION_DURATION, ram.MAX_SESSION_DURATION)

ACTIONS = [
    _spec(
        "CreateUser",
        create_user,
        (USER_NAME, DISPLAY_NAME, COMMENTS, EMAIL, MOBILE_PHONE),
        "Create a RAM user. At most 5000 per account; a name taken is 409 EntityAlreadyExists.User.",
    ),
    _spec("GetUser", get_user, (USER_NAME,), "A RAM user.", inline=True),
    _spec(
        "UpdateUser",
        update_user,
        (
            USER_NAME,
            RamParam("NewUserName", min=1, max=ram.USER_NAME[1], pattern=ram.USER_NAME[0].pattern),
            RamParam("NewDisplayName", min=1, max=ram.MAX_DISPLAY_NAME),
            RamParam("NewComments", max=ram.MAX_COMMENTS),
            RamParam("NewEmail", max=128),
            RamParam("NewMobilePhone", max=32, pattern=MOBILE_PHONE.pattern),
        ),
        "Change a RAM user's name, display name, comments, email or mobile phone.",
    ),
    _spec(
        "ListUsers", list_users, (MARKER, MAX_ITEMS), "The account's RAM users by name, paged.", inline=True
    ),
    _spec(
        "DeleteUser",
        delete_user,
        (USER_NAME,),
        "Delete a RAM user that has no AccessKey, group or attached policy (409 DeleteConflict.User.*).",
    ),
    _spec(
        "CreateAccessKey",
        create_access_key,
        (OPTIONAL_USER,),
        "A new AccessKey pair; its secret is answered only here. A RAM user holds at most two "
        "(409 LimitExceeded.User.AccessKey).",
    ),
    _spec(
        "UpdateAccessKey",
        update_access_key,
        (OPTIONAL_USER, ACCESS_KEY_ID, RamParam("Status", required=True, enum=ram.ACCESS_KEY_STATUSES)),
        "Activate or deactivate an AccessKey pair; an Inactive pair's requests are 403 Forbidden.AccessKey.",
    ),
    _spec(
        "ListAccessKeys",
        list_access_keys,
        (OPTIONAL_USER,),
        "The AccessKey pairs of a user (no secrets).",
        inline=True,
    ),
    _spec("DeleteAccessKey", delete_access_key, (OPTIONAL_USER, ACCESS_KEY_ID), "Delete an AccessKey pair."),
    _spec("CreateGroup", create_group, (GROUP_NAME, COMMENTS), "Create a group. At most 300 per account."),
    _spec("GetGroup", get_group, (GROUP_NAME,), "A group.", inline=True),
    _spec(
        "ListGroups", list_groups, (MARKER, MAX_ITEMS), "The account's groups by name, paged.", inline=True
    ),
    _spec(
        "DeleteGroup",
        delete_group,
        (GROUP_NAME,),
        "Delete a group without members or attached policies (409 DeleteConflict.Group.*).",
    ),
    _spec(
        "AddUserToGroup",
        add_user_to_group,
        (GROUP_NAME, USER_NAME),
        "Add a user to a group; a user joins at most 10 groups.",
    ),
    _spec(
        "RemoveUserFromGroup", remove_user_from_group, (GROUP_NAME, USER_NAME), "Remove a user from a group."
    ),
    _spec(
        "ListGroupsForUser", list_groups_for_user, (USER_NAME,), "The groups a user belongs to.", inline=True
    ),
    _spec(
        "ListUsersForGroup",
        list_users_for_group,
        (GROUP_NAME, MARKER, MAX_ITEMS),
        "The members of a group by name, paged.",
        inline=True,
    ),
    _spec(
        "CreateRole",
        create_role,
        (
            ROLE_NAME,
            TRUST_POLICY,
            DESCRIPTION,
            RamParam(
                "MaxSessionDuration", kind=int, min=SESSION[0], max=SESSION[1], doc="Seconds; default 3600."
            ),
        ),
        "Create a role with a trust policy. Names are unique per account in any case; the ARN is "
        "acs:ram::<account>:role/<name in lower case>. At most 1000 per account.",
    ),
    _spec("GetRole", get_role, (ROLE_NAME,), "A role (its name in any case).", inline=True),
    _spec(
        "UpdateRole",
        update_role,
        (
            ROLE_NAME,
            RamParam("NewAssumeRolePolicyDocument", max=ram.MAX_POLICY_DOCUMENT, doc=POLICY_DOCUMENT_DOC),
            RamParam("NewDescription", max=ram.MAX_DESCRIPTION),
            RamParam("NewMaxSessionDuration", kind=int, min=SESSION[0], max=SESSION[1]),
        ),
        "Change a role's trust policy, description or maximum session duration.",
    ),
    _spec("ListRoles", list_roles, (MARKER, MAX_ITEMS), "The account's roles by name, paged.", inline=True),
    _spec(
        "DeleteRole",
        delete_role,
        (ROLE_NAME,),
        "Delete a role without attached policies (409 DeleteConflict.Role.Policy).",
    ),
]
