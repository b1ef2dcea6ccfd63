"""Tags through both official SDKs (issue 7): the old JSON-string actions, the new flattened
repeat-list actions (Tag.N.Key, ResourceId.N, TagKey.N), limits, and ListKeys tag filters."""

from __future__ import annotations

import json
import secrets

import pytest
from alibabacloud_kms20160120 import models as m
from aliyunsdkkms.request.v20160120.CreateKeyRequest import CreateKeyRequest
from aliyunsdkkms.request.v20160120.ListKeysRequest import ListKeysRequest
from aliyunsdkkms.request.v20160120.ListResourceTagsRequest import ListResourceTagsRequest
from aliyunsdkkms.request.v20160120.ListTagResourcesRequest import ListTagResourcesRequest
from aliyunsdkkms.request.v20160120.TagResourceRequest import TagResourceRequest
from aliyunsdkkms.request.v20160120.TagResourcesRequest import TagResourcesRequest
from aliyunsdkkms.request.v20160120.UntagResourceRequest import UntagResourceRequest
from aliyunsdkkms.request.v20160120.UntagResourcesRequest import UntagResourcesRequest

from tests.support.clients import OldClient, RawSigner
from tests.support.keys import new_tea_key
from tests.support.sdk_errors import old_error, tea_error

MISSING_KEY = "00000000-0000-4000-8000-000000000000"


def _tags(tea, key_id: str) -> dict[str, str]:  # type: ignore[no-untyped-def]
    found = tea.list_resource_tags(m.ListResourceTagsRequest(key_id=key_id)).body.tags.tag
    assert {key_id} >= {t.key_id for t in found}
    return {t.tag_key: t.tag_value for t in found}


def _tags_json(**tags: str) -> str:
    return json.dumps([{"TagKey": k, "TagValue": v} for k, v in tags.items()])


# -- old style ----------------------------------------------------------------------------


def test_tea_old_style_tag_list_untag(tea) -> None:  # type: ignore[no-untyped-def]
    """TagResource adds and overwrites, ListResourceTags lists by key, UntagResource skips unknown keys."""
    key_id = new_tea_key(tea).key_id
    tea.tag_resource(m.TagResourceRequest(key_id=key_id, tags=_tags_json(env="dev", team="a")))
    tea.tag_resource(m.TagResourceRequest(key_id=key_id, tags=_tags_json(env="prod")))
    assert _tags(tea, key_id) == {"env": "prod", "team": "a"}
    tea.untag_resource(m.UntagResourceRequest(key_id=key_id, tag_keys=json.dumps(["team", "never-set"])))
    assert _tags(tea, key_id) == {"env": "prod"}


def test_old_sdk_old_style_tags_by_alias(old: OldClient, tea) -> None:  # type: ignore[no-untyped-def]
    """The old SDK tags through an alias and ListResourceTags answers the resolved key id."""
    key_id = old.call(CreateKeyRequest())["KeyMetadata"]["KeyId"]
    alias = f"alias/tags-{secrets.token_hex(6)}"
    tea.create_alias(m.CreateAliasRequest(alias_name=alias, key_id=key_id))
    old.call(TagResourceRequest(), KeyId=alias, Tags=_tags_json(project="openkms", empty=""))
    body = old.call(ListResourceTagsRequest(), KeyId=alias)
    expected = [
        {"KeyId": key_id, "TagKey": "empty", "TagValue": ""},
        {"KeyId": key_id, "TagKey": "project", "TagValue": "openkms"},
    ]
    assert expected == body["Tags"]["Tag"]
    old.call(UntagResourceRequest(), KeyId=key_id, TagKeys='["empty"]')
    assert [t["TagKey"] for t in old.call(ListResourceTagsRequest(), KeyId=key_id)["Tags"]["Tag"]] == ["project"]


def test_create_key_tags_are_listed(tea) -> None:  # type: ignore[no-untyped-def]
    """Tags given to CreateKey are the key's tags."""
    key_id = tea.create_key(m.CreateKeyRequest(tags=_tags_json(a="1", b="2"))).body.key_metadata.key_id
    assert _tags(tea, key_id) == {"a": "1", "b": "2"}


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({"tags": _tags_json(ok="1")}, ("MissingParameter", 400)),
        ({"key_id": "K", "secret_name": "s", "tags": _tags_json(ok="1")}, ("InvalidParameter", 400)),
        ({"key_id": "K", "tags": _tags_json(**{"aliyun:x": "1"})}, ("InvalidParameter", 400)),
        ({"key_id": "K", "tags": _tags_json(**{"acs:x": "1"})}, ("InvalidParameter", 400)),
        ({"key_id": "K", "tags": _tags_json(k="v" * 129)}, ("InvalidParameter", 400)),
        ({"key_id": "K", "tags": '{"TagKey": "a"}'}, ("InvalidParameter", 400)),
        ({"key_id": MISSING_KEY, "tags": _tags_json(ok="1")}, ("Forbidden.KeyNotFound", 404)),
        ({"secret_name": "no-such-secret", "tags": _tags_json(ok="1")}, ("Forbidden.ResourceNotFound", 404)),
        ({"certificate_id": "770dbe42-e146-43d1-a55a-1355db86", "tags": _tags_json(ok="1")}, ("Forbidden.ResourceNotFound", 404)),
    ],
)
def test_tag_resource_refusals(tea, kwargs: dict[str, str], expected: tuple[str, int]) -> None:  # type: ignore[no-untyped-def]
    """Old-style TagResource: one target, valid tags, an existing resource; the key is left untouched."""
    key_id = new_tea_key(tea).key_id
    if kwargs.get("key_id") == "K":
        kwargs = {**kwargs, "key_id": key_id}
    assert expected == tea_error(lambda: tea.tag_resource(m.TagResourceRequest(**kwargs)))
    assert _tags(tea, key_id) == {}


def test_twenty_tags_per_resource(tea, old: OldClient) -> None:  # type: ignore[no-untyped-def]
    """A key carries at most 20 tags: the 21st distinct key is 400 Rejected.LimitExceeded."""
    key_id = new_tea_key(tea).key_id
    tea.tag_resource(m.TagResourceRequest(key_id=key_id, tags=_tags_json(**{f"k{i}": "v" for i in range(20)})))
    assert old_error(old, TagResourceRequest(), KeyId=key_id, Tags=_tags_json(k20="v")) == ("Rejected.LimitExceeded", 400)
    tea.tag_resource(m.TagResourceRequest(key_id=key_id, tags=_tags_json(k0="changed")))
    assert (_tags(tea, key_id)["k0"], len(_tags(tea, key_id))) == ("changed", 20)


# -- new style ----------------------------------------------------------------------------


def test_tea_tag_resources_flattened(tea) -> None:  # type: ignore[no-untyped-def]
    """Tea list models flatten to ResourceId.N / Tag.N.Key: many keys tagged in one call, then listed."""
    keys = sorted(new_tea_key(tea).key_id for _ in range(3))
    tags = [m.TagResourcesRequestTag(key=f"t{i}", value=str(i)) for i in range(1, 12)]  # Tag.10, Tag.11 sort early
    tea.tag_resources(m.TagResourcesRequest(region_id="cn-hangzhou", resource_type="key", resource_id=keys, tag=tags))
    body = tea.list_tag_resources(m.ListTagResourcesRequest(resource_type="key", resource_id=keys)).body
    rows = [(r.resource_id, r.resource_type, r.tag_key, r.tag_value) for r in body.tag_resources.tag_resource]
    expected = sorted((k, "key", f"t{i}", str(i)) for k in keys for i in range(1, 12))
    assert ("", expected) == (body.next_token, rows)
    tea.untag_resources(m.UntagResourcesRequest(resource_type="key", resource_id=keys[:1], tag_key=["t1", "t2"]))
    tea.untag_resources(m.UntagResourcesRequest(resource_type="key", resource_id=keys[1:2], all=True))
    assert tuple(len(_tags(tea, k)) for k in keys) == (9, 0, 11)


def test_old_sdk_repeat_lists(old: OldClient, tea) -> None:  # type: ignore[no-untyped-def]
    """aliyunsdkkms set_Tags/set_ResourceIds/set_TagKeys/set_All produce what the server reads."""
    keys = [old.call(CreateKeyRequest())["KeyMetadata"]["KeyId"] for _ in range(2)]
    old.call(
        TagResourcesRequest(), ResourceType="key", ResourceIds=keys,
        Tags=[{"Key": "env", "Value": "prod"}, {"Key": "flag"}, {"Key": "team", "Value": "kms"}],
    )  # fmt: skip
    listed = old.call(ListTagResourcesRequest(), ResourceType="key", ResourceIds=keys, Tags=[{"Key": "env", "Value": "prod"}])
    rows = {(r["ResourceId"], r["TagKey"], r["TagValue"]) for r in listed["TagResources"]["TagResource"]}
    assert {(k, t, v) for k in keys for t, v in (("env", "prod"), ("flag", ""), ("team", "kms"))} == rows
    assert listed["NextToken"] == ""
    old.call(UntagResourcesRequest(), ResourceType="key", ResourceIds=keys[:1], TagKeys=["flag"])
    old.call(UntagResourcesRequest(), ResourceType="key", ResourceIds=keys[1:], All=True)
    assert (_tags(tea, keys[0]), _tags(tea, keys[1])) == ({"env": "prod", "team": "kms"}, {})


def test_list_tag_resources_tag_filter(tea) -> None:  # type: ignore[no-untyped-def]
    """Tag.N keeps keys carrying every given tag (no Value: any value) and lists all their tags."""
    marker = secrets.token_hex(4)
    a, b = new_tea_key(tea).key_id, new_tea_key(tea).key_id
    tea.tag_resource(m.TagResourceRequest(key_id=a, tags=_tags_json(**{marker: "1", "env": "prod"})))
    tea.tag_resource(m.TagResourceRequest(key_id=b, tags=_tags_json(**{marker: "2", "env": "dev"})))
    rows = tea.list_tag_resources(
        m.ListTagResourcesRequest(
            resource_type="key",
            tag=[m.ListTagResourcesRequestTag(key=marker), m.ListTagResourcesRequestTag(key="env", value="prod")],
        )
    ).body.tag_resources.tag_resource
    assert {(a, marker, "1"), (a, "env", "prod")} == {(r.resource_id, r.tag_key, r.tag_value) for r in rows}


def test_list_tag_resources_pages_of_200(tea) -> None:  # type: ignore[no-untyped-def]
    """Pages hold 200 rows; NextToken leads to the rest and is empty on the last page."""
    keys = [new_tea_key(tea).key_id for _ in range(11)]
    tags = [m.TagResourcesRequestTag(key=f"p{i:02d}", value="v") for i in range(20)]
    tea.tag_resources(m.TagResourcesRequest(resource_type="key", resource_id=keys, tag=tags))
    first = tea.list_tag_resources(m.ListTagResourcesRequest(resource_type="key", resource_id=keys)).body
    assert len(first.tag_resources.tag_resource) == 200 and first.next_token
    second = tea.list_tag_resources(
        m.ListTagResourcesRequest(resource_type="key", resource_id=keys, next_token=first.next_token)
    ).body
    rows = [(r.resource_id, r.tag_key) for r in first.tag_resources.tag_resource + second.tag_resources.tag_resource]
    assert (second.next_token, len(rows), len(set(rows))) == ("", 220, 220)


def test_tag_resources_all_or_none(tea) -> None:  # type: ignore[no-untyped-def]
    """A batch naming one unknown key fails with 404 and tags none of the others."""
    key_id = new_tea_key(tea).key_id
    call = lambda: tea.tag_resources(  # noqa: E731
        m.TagResourcesRequest(
            resource_type="key", resource_id=[key_id, MISSING_KEY], tag=[m.TagResourcesRequestTag(key="a", value="b")]
        )
    )
    assert tea_error(call) == ("Forbidden.KeyNotFound", 404)
    assert _tags(tea, key_id) == {}


def test_new_style_secret_not_found(tea) -> None:  # type: ignore[no-untyped-def]
    """ResourceType secret with a name that does not exist is 404 Forbidden.ResourceNotFound."""
    call = lambda: tea.tag_resources(  # noqa: E731
        m.TagResourcesRequest(
            resource_type="secret", resource_id=["no-such-secret"], tag=[m.TagResourcesRequestTag(key="a", value="b")]
        )
    )
    assert tea_error(call) == ("Forbidden.ResourceNotFound", 404)
    body = tea.list_tag_resources(m.ListTagResourcesRequest(resource_type="secret", resource_id=["no-such-secret"])).body
    assert (body.tag_resources.tag_resource, body.next_token) == ([], "")


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({"ResourceType": "key", "Tag.1.Key": "a"}, "MissingParameter"),
        ({"ResourceType": "key", "ResourceId.1": "K"}, "MissingParameter"),
        ({"ResourceType": "alias", "ResourceId.1": "K", "Tag.1.Key": "a"}, "InvalidParameter"),
        ({"ResourceType": "key", "ResourceId.1": "K", "Tag.21.Key": "a"}, "InvalidParameter"),
        ({"ResourceType": "key", "ResourceId.51": "K", "Tag.1.Key": "a"}, "InvalidParameter"),
        ({"ResourceType": "key", "ResourceId.1": "K", "Tag.1.Value": "v"}, "MissingParameter"),
        ({"ResourceType": "key", "ResourceId.1": "K", "Tag.1.Key": "acs:reserved"}, "InvalidParameter"),
        ({"ResourceType": "key", "ResourceId.1": "K", "Tag.1.Key": "a", "Tag.1.Value": "v" * 129}, "InvalidParameter"),
    ],
)
def test_tag_resources_refusals(raw: RawSigner, tea, params: dict[str, str], code: str) -> None:  # type: ignore[no-untyped-def]
    """Missing lists, unknown types, indexes past 20 tags or 50 resources and bad tags are 400s."""
    key_id = new_tea_key(tea).key_id
    params = {k: key_id if v == "K" else v for k, v in params.items()}
    response = raw.v1("TagResources", params)
    assert (400, code) == (response.status, response.json()["Code"])
    assert _tags(tea, key_id) == {}


def test_untag_resources_needs_tag_keys_or_all(raw: RawSigner, tea) -> None:  # type: ignore[no-untyped-def]
    """UntagResources without TagKey.N and without All=true is MissingParameter TagKey."""
    key_id = new_tea_key(tea).key_id
    response = raw.v1("UntagResources", {"ResourceType": "key", "ResourceId.1": key_id})
    assert (response.status, response.json()["Code"]) == (400, "MissingParameter")
    assert "TagKey" in response.json()["Message"]


def test_bad_next_token(raw: RawSigner) -> None:
    """A NextToken the server did not issue is 400 InvalidParameter."""
    response = raw.v1("ListTagResources", {"ResourceType": "key", "NextToken": "not-a-token"})
    assert (response.status, response.json()["Code"]) == (400, "InvalidParameter")


# -- ListKeys filters ---------------------------------------------------------------------


def test_list_keys_tag_filters_both_sdks(tea, old: OldClient) -> None:  # type: ignore[no-untyped-def]
    """ListKeys Filters TagKey/TagValue select keys in the database; together they match one tag."""
    marker = "m" + secrets.token_hex(4)
    a, b, _ = new_tea_key(tea).key_id, new_tea_key(tea).key_id, new_tea_key(tea).key_id
    tea.tag_resource(m.TagResourceRequest(key_id=a, tags=_tags_json(**{marker: "blue"})))
    tea.tag_resource(m.TagResourceRequest(key_id=b, tags=_tags_json(**{marker: "green", "other": "blue"})))

    def ids(filters: list[dict[str, object]]) -> tuple[int, set[str]]:
        body = tea.list_keys(m.ListKeysRequest(page_size=100, filters=json.dumps(filters))).body
        return body.total_count, {k.key_id for k in body.keys.key}

    assert (2, {a, b}) == ids([{"Key": "TagKey", "Values": [marker]}])
    assert (1, {a}) == ids([{"Key": "TagKey", "Values": [marker]}, {"Key": "TagValue", "Values": ["blue"]}])
    assert (0, set()) == ids([{"Key": "TagKey", "Values": [marker]}, {"Key": "KeyState", "Values": ["Disabled"]}])
    page = old.call(
        ListKeysRequest(), PageSize=1, PageNumber=2,
        Filters=json.dumps([{"Key": "TagKey", "Values": [marker]}, {"Key": "TagValue", "Values": ["blue", "green"]}]),
    )  # fmt: skip
    assert (page["TotalCount"], len(page["Keys"]["Key"])) == (2, 1)
    assert tea.list_keys(
        m.ListKeysRequest(filters=json.dumps([{"Key": "DKMSInstanceId", "Values": ["kst-none"]}]))
    ).body.to_map()["Keys"] == {"Key": []}
