"""Tag actions, old style (TagResource, UntagResource, ListResourceTags: one resource, tags as
JSON strings) and new style (TagResources, UntagResources, ListTagResources: repeat lists
``ResourceId.N``, ``Tag.N.Key``/``Tag.N.Value``, ``TagKey.N``; NextToken paging).

Resource types are ``key`` and ``secret``. A key is named by id, alias or ARN and answered by
its id; a secret by name or ARN. Certificates (legacy) do not exist here, so a CertificateId is
never found.
"""

from __future__ import annotations

from typing import Any

from openkms.api.spec import ActionSpec, JSONArray, Member, Param, Repeated
from openkms.domain import errors
from openkms.domain.tags import MAX_TAGS, check_tag, tag_map
from openkms.service.context import CallContext
from openkms.service.tags import KEY, RESOURCE_TYPES, SECRET
from openkms.wire import errors as wire

MAX_RESOURCES = 50
MAX_TAG_CHARS = 128


def tags_json(required: bool = False) -> JSONArray:
    """The JSON ``Tags`` of CreateKey, CreateSecret and TagResource."""
    return JSONArray(
        "Tags",
        required=required,
        max=16384,
        max_items=MAX_TAGS,
        fields=(
            Member("TagKey", required=True, max=MAX_TAG_CHARS),
            Member("TagValue", default="", max=MAX_TAG_CHARS),
        ),
        doc="Key not aliyun* or acs:*; both of [A-Za-z0-9/\\_-.+=:@ ]; a repeated key keeps its later value.",
    )


def tags_of(tags: list[dict[str, str]] | None) -> dict[str, str]:
    """The tag map of a bound ``Tags`` (absent: none), each tag checked."""
    return tag_map((t["tag_key"], t["tag_value"]) for t in tags or ())


# -- old style ------------------------------------------------------------------------------

TARGETS = (
    Param("KeyId", max=2048, doc="Key id, alias or ARN. Exactly one of the three targets."),
    Param("SecretName", max=2048, doc="Secret name or ARN."),
    Param("CertificateId", max=128, doc="Legacy certificates: never found here."),
)


def _target(key_id: str | None, secret_name: str | None, certificate_id: str | None) -> tuple[str, str, str]:
    """(resource type, value, parameter name) of the one target an old-style call names."""
    given = [
        (name, value)
        for name, value in (("KeyId", key_id), ("SecretName", secret_name), ("CertificateId", certificate_id))
        if value is not None
    ]
    if not given:
        raise wire.MissingParameter("KeyId")
    if len(given) > 1:
        raise wire.InvalidParameter(given[1][0], "Give exactly one of KeyId, SecretName, CertificateId.")
    name, value = given[0]
    if name == "CertificateId":
        raise errors.ResourceNotFound("The specified certificate is not found.")
    return (KEY if name == "KeyId" else SECRET), value, name


def tag_resource(
    ctx: CallContext,
    *,
    key_id: str | None,
    secret_name: str | None,
    certificate_id: str | None,
    tags: list[dict[str, str]],
) -> dict[str, Any]:
    resource_type, value, parameter = _target(key_id, secret_name, certificate_id)
    ctx.services.tags.tag(ctx.scope, resource_type, [value], tags_of(tags), parameter)
    return {}


def untag_resource(
    ctx: CallContext,
    *,
    key_id: str | None,
    secret_name: str | None,
    certificate_id: str | None,
    tag_keys: list[str],
) -> dict[str, Any]:
    resource_type, value, parameter = _target(key_id, secret_name, certificate_id)
    ctx.services.tags.untag(ctx.scope, resource_type, [value], tag_keys, parameter)
    return {}


def list_resource_tags(ctx: CallContext, *, key_id: str) -> dict[str, Any]:
    resolved, found = ctx.services.tags.tags_of(ctx.scope, KEY, key_id, "KeyId")
    return {"Tags": {"Tag": [{"KeyId": resolved, "TagKey": k, "TagValue": v} for k, v in found.items()]}}


# -- new style ------------------------------------------------------------------------------

REGION_ID = Param("RegionId", max=64, doc="Accepted; the endpoint decides the region.")
RESOURCE_TYPE = Param("ResourceType", required=True, enum=RESOURCE_TYPES)


def _resource_ids(required: bool) -> Repeated:
    return Repeated(
        "ResourceId", required=required, max=2048, max_items=MAX_RESOURCES,
        doc="Key ids (aliases and ARNs accepted) or secret names.",
    )  # fmt: skip


def _tag_list(required: bool, value_default: str | None, doc: str) -> Repeated:
    return Repeated(
        "Tag",
        required=required,
        max_items=MAX_TAGS,
        doc=doc,
        fields=(
            Param("Key", required=True, max=MAX_TAG_CHARS),
            Param("Value", default=value_default, max=MAX_TAG_CHARS, allow_empty=True),
        ),
    )


def _tag_map(tag: list[dict[str, Any]]) -> dict[str, str]:
    out: dict[str, str] = {}
    for n, item in enumerate(tag, 1):
        check_tag(item["key"], item["value"], f"Tag.{n}.Key")
        out[item["key"]] = item["value"]
    return out


def tag_resources(
    ctx: CallContext,
    *,
    region_id: str | None,
    resource_type: str,
    resource_id: list[str],
    tag: list[dict[str, Any]],
) -> dict[str, Any]:
    ctx.services.tags.tag(ctx.scope, resource_type, resource_id, _tag_map(tag), "ResourceId")
    return {}


def untag_resources(
    ctx: CallContext,
    *,
    region_id: str | None,
    resource_type: str,
    resource_id: list[str],
    tag_key: list[str],
    all: bool,
) -> dict[str, Any]:
    if not tag_key and not all:
        raise wire.MissingParameter("TagKey")
    ctx.services.tags.untag(ctx.scope, resource_type, resource_id, tag_key or None, "ResourceId")
    return {}


def list_tag_resources(
    ctx: CallContext,
    *,
    region_id: str | None,
    resource_type: str,
    resource_id: list[str],
    tag: list[dict[str, Any]],
    next_token: str | None,
) -> dict[str, Any]:
    match = [(item["key"], item["value"]) for item in tag]
    rows, token = ctx.services.tags.list_page(ctx.scope, resource_type, resource_id, match, next_token)
    return {
        "NextToken": token,
        "TagResources": {
            "TagResource": [
                {"ResourceId": rid, "ResourceType": resource_type, "TagKey": k, "TagValue": v}
                for rid, k, v in rows
            ]
        },
    }


ACTIONS = [
    ActionSpec(
        "TagResource",
        tag_resource,
        (*TARGETS, tags_json(required=True)),
        doc="Add tags to one key or secret, overwriting the values of keys it already has. "
        "A resource carries at most 20 tags (400 Rejected.LimitExceeded beyond).",
    ),
    ActionSpec(
        "UntagResource",
        untag_resource,
        (
            *TARGETS,
            JSONArray(
                "TagKeys",
                required=True,
                max=4096,
                max_items=MAX_TAGS,
                item=Member("TagKey", required=True, max=MAX_TAG_CHARS),
                doc="Tag keys as strings.",
            ),
        ),
        doc="Remove tag keys from one key or secret; keys it does not carry are skipped.",
    ),
    ActionSpec(
        "ListResourceTags",
        list_resource_tags,
        (Param("KeyId", required=True, max=2048, doc="Key id, alias or ARN."),),
        doc="List the tags of one key, by tag key.",
    ),
    ActionSpec(
        "TagResources",
        tag_resources,
        (
            REGION_ID,
            RESOURCE_TYPE,
            _resource_ids(True),
            _tag_list(
                True, "", "Key not aliyun* or acs:*; both of [A-Za-z0-9/\\_-.+=:@ ]; Value defaults to empty."
            ),
        ),
        doc="Add up to 20 tags to up to 50 keys or secrets, all or none.",
    ),
    ActionSpec(
        "UntagResources",
        untag_resources,
        (
            REGION_ID,
            RESOURCE_TYPE,
            _resource_ids(True),
            Repeated("TagKey", max=MAX_TAG_CHARS, max_items=MAX_TAGS, doc="Keys not carried are skipped."),
            Param("All", kind=bool, default=False, doc="Remove every tag; only when no TagKey is given."),
        ),
        doc="Remove tags from up to 50 keys or secrets, all or none.",
    ),
    ActionSpec(
        "ListTagResources",
        list_tag_resources,
        (
            REGION_ID,
            RESOURCE_TYPE,
            _resource_ids(False),
            _tag_list(False, None, "Keep resources carrying every tag; without Value, any value."),
            Param("NextToken", max=2048, doc="From the previous page; empty on the last page."),
        ),
        doc="List (resource, tag) rows, 200 per page, by resource id then tag key. ResourceId.N "
        "restricts the resources; Tag.N keeps resources carrying every given tag (a Tag with no "
        "Value matches any value) and lists all of their tags.",
    ),
]
