"""RAM actions (API 2015-05-01) on policies: custom policies and their versions, the built-in
system policies, and their attachments to users, groups and roles.

Every action works in the account of the AccessKey that signed the request.
"""

from __future__ import annotations

from typing import Any

from openkms.api.ram import POLICY_DOCUMENT_DOC, SERVICE
from openkms.api.ram_params import (
    GROUP_NAME,
    MARKER,
    MAX_ITEMS,
    POLICY_NAME,
    POLICY_TYPE,
    ROLE_NAME,
    USER_NAME,
    RamParam,
)
from openkms.api.spec import ActionSpec, Handler, Param
from openkms.domain import ram
from openkms.domain.clock import iso
from openkms.service.context import CallContext
from openkms.service.ram_policies import AttachedPolicy, PolicyInfo, VersionInfo

POLICY_DOCUMENT = RamParam(
    "PolicyDocument", required=True, min=1, max=ram.MAX_POLICY_DOCUMENT, doc=POLICY_DOCUMENT_DOC
)
VERSION_ID = RamParam("VersionId", required=True, max=16, doc="v1, v2, ...")
OPTIONAL_TYPE = RamParam("PolicyType", enum=ram.POLICY_TYPES, doc="Absent: both.")


def _spec(
    name: str, handler: Handler, params: tuple[Param, ...] = (), doc: str = "", *, inline: bool = False
) -> ActionSpec:
    return ActionSpec(name, handler, params, doc=doc, service=SERVICE, inline=inline)


def _policy(p: PolicyInfo, *, listed: bool = False) -> dict[str, Any]:
    out: dict[str, Any] = {
        "PolicyName": p.policy_name,
        "PolicyType": p.policy_type,
        "Description": p.description,
        "DefaultVersion": p.default_version,
        "CreateDate": iso(p.created),
        "UpdateDate": iso(p.updated),
        "AttachmentCount": p.attachment_count,
    }
    if not listed:
        out["PolicyDocument"] = p.document
    return out


def _version(v: VersionInfo) -> dict[str, Any]:
    return {
        "VersionId": v.version_id,
        "IsDefaultVersion": v.is_default,
        "PolicyDocument": v.document,
        "CreateDate": iso(v.created),
    }


def create_policy(
    ctx: CallContext, *, policy_name: str, policy_document: str, description: str | None
) -> dict[str, Any]:
    made = ctx.services.ram_policies.create_policy(
        ctx.caller.account_uid, policy_name, policy_document, description or ""
    )
    return {
        "Policy": {
            "PolicyName": made.policy_name,
            "PolicyType": made.policy_type,
            "Description": made.description,
            "DefaultVersion": made.default_version,
            "CreateDate": iso(made.created),
        }
    }


def get_policy(ctx: CallContext, *, policy_name: str, policy_type: str) -> dict[str, Any]:
    p = ctx.services.ram_policies.get_policy(ctx.caller.account_uid, policy_type, policy_name)
    default = {
        "VersionId": p.default_version,
        "IsDefaultVersion": True,
        "PolicyDocument": p.document,
        "CreateDate": iso(p.updated),
    }
    return {"Policy": _policy(p), "DefaultPolicyVersion": default}


def list_policies(
    ctx: CallContext, *, policy_type: str | None, marker: str | None, max_items: int
) -> dict[str, Any]:
    found, truncated, next_marker = ctx.services.ram_policies.list_policies(
        ctx.caller.account_uid, policy_type, marker, max_items
    )
    body: dict[str, Any] = {
        "Policies": {"Policy": [_policy(p, listed=True) for p in found]},
        "IsTruncated": truncated,
    }
    if truncated:
        body["Marker"] = next_marker
    return body


def delete_policy(ctx: CallContext, *, policy_name: str, cascading_delete: bool) -> dict[str, Any]:
    ctx.services.ram_policies.delete_policy(ctx.caller.account_uid, policy_name, cascading_delete)
    return {}


def create_policy_version(
    ctx: CallContext, *, policy_name: str, policy_document: str, set_as_default: bool, rotate_strategy: str
) -> dict[str, Any]:
    v = ctx.services.ram_policies.create_version(
        ctx.caller.account_uid, policy_name, policy_document, set_as_default, rotate_strategy
    )
    return {"PolicyVersion": _version(v)}


def get_policy_version(
    ctx: CallContext, *, policy_name: str, policy_type: str, version_id: str
) -> dict[str, Any]:
    v = ctx.services.ram_policies.get_version(ctx.caller.account_uid, policy_type, policy_name, version_id)
    return {"PolicyVersion": _version(v)}


def list_policy_versions(ctx: CallContext, *, policy_name: str, policy_type: str) -> dict[str, Any]:
    found = ctx.services.ram_policies.list_versions(ctx.caller.account_uid, policy_type, policy_name)
    return {"PolicyVersions": {"PolicyVersion": [_version(v) for v in found]}}


def set_default_policy_version(ctx: CallContext, *, policy_name: str, version_id: str) -> dict[str, Any]:
    ctx.services.ram_policies.set_default_version(ctx.caller.account_uid, policy_name, version_id)
    return {}


def delete_policy_version(ctx: CallContext, *, policy_name: str, version_id: str) -> dict[str, Any]:
    ctx.services.ram_policies.delete_version(ctx.caller.account_uid, policy_name, version_id)
    return {}


def _attached(p: AttachedPolicy) -> dict[str, Any]:
    return {
        "PolicyName": p.policy_name,
        "PolicyType": p.policy_type,
        "Description": p.description,
        "DefaultVersion": p.default_version,
        "AttachDate": iso(p.attached),
    }


def list_entities_for_policy(ctx: CallContext, *, policy_name: str, policy_type: str) -> dict[str, Any]:
    found = ctx.services.ram_policies.entities_for(ctx.caller.account_uid, policy_type, policy_name)
    users = [
        {
            "UserId": e.principal_id,
            "UserName": e.name,
            "DisplayName": e.display,
            "AttachDate": iso(e.attached),
        }
        for e in found
        if e.principal_type == ram.USER
    ]
    groups = [
        {"GroupName": e.name, "Comments": e.display, "AttachDate": iso(e.attached)}
        for e in found
        if e.principal_type == ram.GROUP
    ]
    roles = [
        {
            "RoleId": e.principal_id,
            "RoleName": e.name,
            "Arn": e.arn,
            "Description": e.display,
            "AttachDate": iso(e.attached),
        }
        for e in found
        if e.principal_type == ram.ROLE
    ]
    return {"Users": {"User": users}, "Groups": {"Group": groups}, "Roles": {"Role": roles}}


def _attachment_actions(principal_type: str, principal: RamParam) -> list[ActionSpec]:
    """Attach…To<Type>, Detach…From<Type> and ListPoliciesFor<Type>: one shape for users, groups
    and roles."""
    arg = principal.arg

    def attach(ctx: CallContext, *, policy_name: str, policy_type: str, **named: str) -> dict[str, Any]:
        ctx.services.ram_policies.attach(
            ctx.caller.account_uid, policy_type, policy_name, principal_type, named[arg]
        )
        return {}

    def detach(ctx: CallContext, *, policy_name: str, policy_type: str, **named: str) -> dict[str, Any]:
        ctx.services.ram_policies.detach(
            ctx.caller.account_uid, policy_type, policy_name, principal_type, named[arg]
        )
        return {}

    def listing(ctx: CallContext, **named: str) -> dict[str, Any]:
        found = ctx.services.ram_policies.policies_for(ctx.caller.account_uid, principal_type, named[arg])
        return {"Policies": {"Policy": [_attached(p) for p in found]}}

    kind = principal_type.lower()
    return [
        _spec(
            f"AttachPolicyTo{principal_type}",
            attach,
            (POLICY_TYPE, POLICY_NAME, principal),
            f"Attach a system or custom policy to a {kind}: at most 20 system and 10 custom policies "
            f"per {kind} (409 LimitExceeded.{principal_type}.Policy).",
        ),
        _spec(
            f"DetachPolicyFrom{principal_type}",
            detach,
            (POLICY_TYPE, POLICY_NAME, principal),
            f"Detach a policy from a {kind}.",
        ),
        _spec(
            f"ListPoliciesFor{principal_type}",
            listing,
            (principal,),
            f"The policies attached to a {kind}.",
            inline=True,
        ),
    ]


ACTIONS = [
    _spec(
        "CreatePolicy",
        create_policy,
        (POLICY_NAME, POLICY_DOCUMENT, RamParam("Description", min=1, max=ram.MAX_DESCRIPTION)),
        "Create a custom policy; its first version v1 is the default. At most 1500 per account; a "
        "name taken (by a custom or a system policy) is 409 EntityAlreadyExists.Policy.",
    ),
    _spec(
        "GetPolicy", get_policy, (POLICY_NAME, POLICY_TYPE), "A policy and its default version.", inline=True
    ),
    _spec(
        "ListPolicies",
        list_policies,
        (OPTIONAL_TYPE, MARKER, MAX_ITEMS),
        "System policies, then the account's custom policies, by name, paged.",
        inline=True,
    ),
    _spec(
        "DeletePolicy",
        delete_policy,
        (
            POLICY_NAME,
            RamParam(
                "CascadingDelete",
                kind=bool,
                default=False,
                doc="Detach the policy and delete its versions too.",
            ),
        ),
        "Delete a custom policy that is attached to nothing and has no version but its default "
        "(409 DeleteConflict.Policy.*), unless CascadingDelete.",
    ),
    _spec(
        "CreatePolicyVersion",
        create_policy_version,
        (
            POLICY_NAME,
            POLICY_DOCUMENT,
            RamParam("SetAsDefault", kind=bool, default=False),
            RamParam(
                "RotateStrategy",
                default=ram.ROTATE_NONE,
                enum=(ram.ROTATE_NONE, ram.ROTATE_DELETE_OLDEST),
                doc="At five versions: refuse (None) or delete the oldest non-default version first.",
            ),
        ),
        "Add a version (v<N+1>) to a custom policy; a policy has at most five "
        "(409 LimitExceeded.Policy.Version).",
    ),
    _spec(
        "GetPolicyVersion",
        get_policy_version,
        (POLICY_NAME, POLICY_TYPE, VERSION_ID),
        "One version of a policy.",
        inline=True,
    ),
    _spec(
        "ListPolicyVersions",
        list_policy_versions,
        (POLICY_NAME, POLICY_TYPE),
        "Every version of a policy, oldest first.",
        inline=True,
    ),
    _spec(
        "SetDefaultPolicyVersion",
        set_default_policy_version,
        (POLICY_NAME, VERSION_ID),
        "Make a version the custom policy's default (the one in effect).",
    ),
    _spec(
        "DeletePolicyVersion",
        delete_policy_version,
        (POLICY_NAME, VERSION_ID),
        "Delete a version that is not the default (409 DeleteConflict.Policy.Version.Default).",
    ),
    *_attachment_actions(ram.USER, USER_NAME),
    *_attachment_actions(ram.GROUP, GROUP_NAME),
    *_attachment_actions(ram.ROLE, ROLE_NAME),
    _spec(
        "ListEntitiesForPolicy",
        list_entities_for_policy,
        (POLICY_NAME, POLICY_TYPE),
        "The users, groups and roles a policy is attached to.",
        inline=True,
    ),
]
