"""Application access actions (group K): network rules, AAP permission policies, application
access points and client keys.

Network rules, policies and access points are named within the caller's account; a policy is
scoped to one of its instances and names the network rules whose addresses may use it; an
access point attaches up to three policies; a client key belongs to an access point. A name
that another resource still refers to cannot be deleted (409 ``Rejected.ResourceInUse``).
CreateClientKey answers the private key once, as a PKCS#12 bundle under the caller's password;
openkms keeps only the public half.
"""

from __future__ import annotations

import base64
import json
from typing import Any

from openkms.api.paging import PAGE_NUMBER, echo, page_size_param
from openkms.api.spec import ActionSpec, JSONArray, Member, Param
from openkms.domain.clock import iso
from openkms.domain.instance import (
    AAP_AUTHENTICATION,
    MAX_AAP_POLICIES,
    NETWORK_RULE_TYPE,
    PERMISSIONS,
    AapPolicy,
    AccessPoint,
    ClientKey,
    NetworkRule,
    aap_arn,
    check_permissions,
    check_policy_names,
    check_resources,
    network_rule_arn,
    parse_access_control_rules,
    parse_source_ips,
    policy_arn,
)
from openkms.service.context import CallContext

NAME = Param("Name", required=True, max=128, doc="1-128 letters, digits, '_', '.' or '-'.")
DESCRIPTION = Param("Description", max=1024, allow_empty=True)
PAGING = (PAGE_NUMBER, page_size_param(20))


def _json(items: tuple[str, ...]) -> str:
    return json.dumps(list(items), separators=(",", ":"))


def _region(ctx: CallContext) -> str:
    return ctx.services.deployment.region


# -- network rules ------------------------------------------------------------------------------


def _rule(ctx: CallContext, rule: NetworkRule) -> dict[str, Any]:
    return {
        "Arn": network_rule_arn(_region(ctx), rule.account_uid, rule.name),
        "Description": rule.description,
        "SourcePrivateIp": _json(rule.source_private_ips),
        "Type": rule.rule_type,
    }


def create_network_rule(
    ctx: CallContext,
    *,
    name: str,
    type: str,
    source_private_ip: str | None,
    description: str | None,
) -> dict[str, Any]:
    ips = parse_source_ips(source_private_ip) if source_private_ip is not None else ()
    rule = ctx.services.instances.create_network_rule(
        ctx.scope.account_uid, name, type, ips, description or ""
    )
    return {"Name": rule.name, **_rule(ctx, rule)}


def update_network_rule(
    ctx: CallContext, *, name: str, source_private_ip: str | None, description: str | None
) -> dict[str, Any]:
    ips = parse_source_ips(source_private_ip) if source_private_ip is not None else None
    ctx.services.instances.update_network_rule(ctx.scope.account_uid, name, ips, description)
    return {}


def delete_network_rule(ctx: CallContext, *, name: str) -> dict[str, Any]:
    ctx.services.instances.delete_network_rule(ctx.scope.account_uid, name)
    return {}


def describe_network_rule(ctx: CallContext, *, name: str) -> dict[str, Any]:
    return _rule(ctx, ctx.services.instances.get_network_rule(ctx.scope.account_uid, name))


def list_network_rules(ctx: CallContext, *, page_number: int, page_size: int) -> dict[str, Any]:
    rows, total = ctx.services.instances.list_network_rules(ctx.scope.account_uid, page_number, page_size)
    return {
        **echo(page_number, page_size, total),
        "NetworkRules": {"NetworkRule": [{"Name": r.name, "Type": r.rule_type} for r in rows]},
    }


# -- policies -----------------------------------------------------------------------------------


def _rules_text(policy: AapPolicy) -> str:
    return json.dumps({"NetworkRules": list(policy.network_rules)}, separators=(",", ":"))


def _policy_head(ctx: CallContext, policy: AapPolicy) -> dict[str, Any]:
    return {
        "Arn": policy_arn(_region(ctx), policy.account_uid, policy.name),
        "Name": policy.name,
        "Description": policy.description,
        "KmsInstance": policy.kms_instance,
        "AccessControlRules": _rules_text(policy),
    }


def create_policy(
    ctx: CallContext,
    *,
    name: str,
    kms_instance: str,
    permissions: list[str],
    resources: list[str],
    access_control_rules: str | None,
    description: str | None,
) -> dict[str, Any]:
    policy = ctx.services.instances.create_policy(
        ctx.scope.account_uid,
        name,
        kms_instance,
        check_permissions(permissions),
        check_resources(resources),
        parse_access_control_rules(access_control_rules) if access_control_rules is not None else (),
        description or "",
    )
    return {
        **_policy_head(ctx, policy),
        "Permissions": _json(policy.permissions),
        "Resources": _json(policy.resources),
    }


def update_policy(
    ctx: CallContext,
    *,
    name: str,
    permissions: list[str] | None,
    resources: list[str] | None,
    access_control_rules: str | None,
    description: str | None,
) -> dict[str, Any]:
    ctx.services.instances.update_policy(
        ctx.scope.account_uid,
        name,
        permissions=check_permissions(permissions) if permissions is not None else None,
        resources=check_resources(resources) if resources is not None else None,
        network_rules=parse_access_control_rules(access_control_rules)
        if access_control_rules is not None
        else None,
        description=description,
    )
    return {}


def delete_policy(ctx: CallContext, *, name: str) -> dict[str, Any]:
    ctx.services.instances.delete_policy(ctx.scope.account_uid, name)
    return {}


def describe_policy(ctx: CallContext, *, name: str) -> dict[str, Any]:
    policy = ctx.services.instances.get_policy(ctx.scope.account_uid, name)
    return {
        **_policy_head(ctx, policy),
        "Permissions": list(policy.permissions),
        "Resources": list(policy.resources),
    }


def list_policies(ctx: CallContext, *, page_number: int, page_size: int) -> dict[str, Any]:
    rows, total = ctx.services.instances.list_policies(ctx.scope.account_uid, page_number, page_size)
    return {**echo(page_number, page_size, total), "Policies": {"Policy": [{"Name": p.name} for p in rows]}}


# -- access points ------------------------------------------------------------------------------


def _aap(ctx: CallContext, aap: AccessPoint) -> dict[str, Any]:
    return {
        "Arn": aap_arn(_region(ctx), aap.account_uid, aap.name),
        "Name": aap.name,
        "AuthenticationMethod": aap.authentication_method,
        "Description": aap.description,
        "Policies": _json(aap.policies),
    }


def create_application_access_point(
    ctx: CallContext, *, name: str, policies: list[str], authentication_method: str, description: str | None
) -> dict[str, Any]:
    aap = ctx.services.instances.create_aap(
        ctx.scope.account_uid, name, authentication_method, check_policy_names(policies), description or ""
    )
    return _aap(ctx, aap)


def update_application_access_point(
    ctx: CallContext, *, name: str, policies: list[str] | None, description: str | None
) -> dict[str, Any]:
    names = check_policy_names(policies) if policies is not None else None
    ctx.services.instances.update_aap(ctx.scope.account_uid, name, names, description)
    return {}


def delete_application_access_point(ctx: CallContext, *, name: str) -> dict[str, Any]:
    ctx.services.instances.delete_aap(ctx.scope.account_uid, name)
    return {}


def describe_application_access_point(ctx: CallContext, *, name: str) -> dict[str, Any]:
    return _aap(ctx, ctx.services.instances.get_aap(ctx.scope.account_uid, name))


def list_application_access_points(ctx: CallContext, *, page_number: int, page_size: int) -> dict[str, Any]:
    rows, total = ctx.services.instances.list_aaps(ctx.scope.account_uid, page_number, page_size)
    return {
        **echo(page_number, page_size, total),
        "ApplicationAccessPoints": {
            "ApplicationAccessPoint": [
                {"Name": a.name, "AuthenticationMethod": a.authentication_method} for a in rows
            ]
        },
    }


# -- client keys --------------------------------------------------------------------------------


def _client_key(ctx: CallContext, key: ClientKey) -> dict[str, Any]:
    return {
        "ClientKeyId": key.client_key_id,
        "AapName": key.aap_name,
        "KeyAlgorithm": key.key_algorithm,
        "KeyOrigin": key.key_origin,
        "CreateTime": iso(key.create_time),
        "NotBefore": iso(key.not_before),
        "NotAfter": iso(key.not_after),
        "PublicKeyData": ctx.services.instances.public_key_pem(key),
    }


def create_client_key(
    ctx: CallContext, *, aap_name: str, password: str, not_before: str | None, not_after: str | None
) -> dict[str, Any]:
    made = ctx.services.instances.create_client_key(
        ctx.scope.account_uid, aap_name, password, not_before, not_after
    )
    return {
        "ClientKeyId": made.key.client_key_id,
        "KeyAlgorithm": made.key.key_algorithm,
        "NotBefore": iso(made.key.not_before),
        "NotAfter": iso(made.key.not_after),
        "PrivateKeyData": base64.b64encode(made.pkcs12).decode(),
    }


def get_client_key(ctx: CallContext, *, client_key_id: str) -> dict[str, Any]:
    return _client_key(ctx, ctx.services.instances.get_client_key(ctx.scope.account_uid, client_key_id))


def list_client_keys(ctx: CallContext, *, aap_name: str | None) -> dict[str, Any]:
    keys = ctx.services.instances.list_client_keys(ctx.scope.account_uid, aap_name)
    return {"ClientKeys": [_client_key(ctx, k) for k in keys]}


def delete_client_key(ctx: CallContext, *, client_key_id: str) -> dict[str, Any]:
    ctx.services.instances.delete_client_key(ctx.scope.account_uid, client_key_id)
    return {}


def _permissions(required: bool) -> JSONArray:
    item = Member("item", required=True, enum=PERMISSIONS)
    return JSONArray(
        "Permissions", required=required, max=1024, item=item, min_items=1, max_items=len(PERMISSIONS)
    )


def _resources(required: bool) -> JSONArray:
    item = Member("item", required=True, max=300)
    return JSONArray(
        "Resources", required=required, max=32768, item=item, min_items=1, max_items=100, doc=RESOURCES_DOC
    )


def _policies(required: bool) -> JSONArray:
    item = Member("item", required=True, max=128)
    return JSONArray(
        "Policies", required=required, max=1024, item=item, min_items=1, max_items=MAX_AAP_POLICIES
    )


CLIENT_KEY_ID = Param("ClientKeyId", required=True, max=64, doc="KAAP.<uuid>.")
RESOURCES_DOC = "JSON array of key/*, key/<KeyId>, secret/*, secret/<SecretName>."
RULES_DOC = 'JSON {"NetworkRules":["<network rule name>",...]}; rules must exist.'

ACTIONS = [
    ActionSpec(
        "CreateNetworkRule",
        create_network_rule,
        (
            NAME,
            Param("Type", required=True, enum=(NETWORK_RULE_TYPE,)),
            Param("SourcePrivateIp", max=8192, doc="JSON array or comma-separated IPs and CIDR blocks."),
            DESCRIPTION,
        ),
        doc="Create a network rule: the private addresses allowed to use the policies naming it. "
        "A taken name is 409 Rejected.ResourceExist.",
    ),
    ActionSpec(
        "UpdateNetworkRule",
        update_network_rule,
        (NAME, Param("SourcePrivateIp", max=8192), DESCRIPTION),
        doc="Replace a rule's addresses and/or description.",
    ),
    ActionSpec(
        "DeleteNetworkRule",
        delete_network_rule,
        (NAME,),
        doc="Delete a rule no policy names (else 409 Rejected.ResourceInUse).",
    ),
    ActionSpec("DescribeNetworkRule", describe_network_rule, (NAME,), doc="A rule's details."),
    ActionSpec("ListNetworkRules", list_network_rules, PAGING, doc="Page through the account's rules."),
    ActionSpec(
        "CreatePolicy",
        create_policy,
        (
            NAME,
            Param(
                "KmsInstance",
                required=True,
                max=64,
                doc="The instance the policy applies to (required here).",
            ),
            _permissions(True),
            _resources(True),
            Param("AccessControlRules", max=8192, doc=RULES_DOC),
            DESCRIPTION,
        ),
        doc="Create an AAP permission policy scoped to an instance. An unknown instance is 403 "
        "Forbidden.DKMSInstanceNotFound.",
    ),
    ActionSpec(
        "UpdatePolicy",
        update_policy,
        (
            NAME,
            _permissions(False),
            _resources(False),
            Param("AccessControlRules", max=8192, doc=RULES_DOC),
            DESCRIPTION,
        ),
        doc="Replace a policy's permissions, resources, network rules and/or description.",
    ),
    ActionSpec(
        "DeletePolicy",
        delete_policy,
        (NAME,),
        doc="Delete a policy no access point attaches (else 409 Rejected.ResourceInUse).",
    ),
    ActionSpec("DescribePolicy", describe_policy, (NAME,), doc="A policy's details."),
    ActionSpec("ListPolicies", list_policies, PAGING, doc="Page through the account's AAP policies."),
    ActionSpec(
        "CreateApplicationAccessPoint",
        create_application_access_point,
        (
            NAME,
            _policies(True),
            Param("AuthenticationMethod", default=AAP_AUTHENTICATION, enum=(AAP_AUTHENTICATION,)),
            DESCRIPTION,
        ),
        doc="Create an access point attaching existing policies (an unknown one is 400 InvalidParameter).",
    ),
    ActionSpec(
        "UpdateApplicationAccessPoint",
        update_application_access_point,
        (NAME, _policies(False), DESCRIPTION),
        doc="Replace an access point's policies and/or description.",
    ),
    ActionSpec(
        "DeleteApplicationAccessPoint",
        delete_application_access_point,
        (NAME,),
        doc="Delete an access point without client keys (else 409 Rejected.ResourceInUse).",
    ),
    ActionSpec(
        "DescribeApplicationAccessPoint",
        describe_application_access_point,
        (NAME,),
        doc="An access point's details.",
    ),
    ActionSpec(
        "ListApplicationAccessPoints",
        list_application_access_points,
        PAGING,
        doc="Page through the account's access points.",
    ),
    ActionSpec(
        "CreateClientKey",
        create_client_key,
        (
            Param("AapName", required=True, max=128),
            Param(
                "Password",
                required=True,
                max=64,
                doc="8-64 chars mixing two of letters, digits, ~!@#$%^&*?_-.",
            ),
            Param("NotBefore", max=32, doc="yyyy-MM-ddTHH:mm:ssZ; default now; given with NotAfter."),
            Param("NotAfter", max=32, doc="yyyy-MM-ddTHH:mm:ssZ; default five years on."),
        ),
        doc="Make an RSA_2048 client key of an access point; PrivateKeyData (Base64 PKCS#12 under "
        "the Password) is answered once and never kept.",
    ),
    ActionSpec("DeleteClientKey", delete_client_key, (CLIENT_KEY_ID,), doc="Delete a client key."),
    ActionSpec(
        "GetClientKey", get_client_key, (CLIENT_KEY_ID,), doc="A client key's public half and validity."
    ),
    ActionSpec(
        "ListClientKeys",
        list_client_keys,
        (Param("AapName", max=128, doc="Only this access point's keys."),),
        doc="The account's client keys (not paged, as Alibaba's).",
    ),
]
