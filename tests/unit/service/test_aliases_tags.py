"""Aliases, tags and key policies at the service layer, in-process: the state rules, the
all-or-none batches, keyset paging and the database-side ListKeys filters."""

from __future__ import annotations

from pathlib import Path

import pytest

from openkms.config import Settings
from openkms.domain import errors
from openkms.domain.clock import FixedClock
from openkms.domain.key import Key
from openkms.service.context import build_services
from openkms.service.deployment import Deployment, init_deployment
from openkms.service.tags import KEY, SECRET, decode_token, encode_token
from openkms.service.tenancy import Scope, root_scope
from openkms.store import keys as key_repo
from openkms.store.schema import secrets


class World:
    def __init__(self, tmp_path: Path) -> None:
        self.dep: Deployment = init_deployment(Settings(data_dir=tmp_path / "data"), FixedClock(1_800_000_000.0))[0]
        services = build_services(self.dep)
        self.keys = services.keys
        self.aliases = services.aliases
        self.tags = services.tags
        self.policies = services.key_policies

    def key(self, tags: dict[str, str] | None = None) -> Key:
        return self.keys.create(
            key_spec="Aliyun_AES_256", key_usage=None, origin="Aliyun_KMS", protection_level="SOFTWARE",
            description="", enable_automatic_rotation=False, rotation_interval=None,
            tag_map=tags or {}, account_uid=self.dep.account_id,
        )

    @property
    def scope(self) -> Scope:
        return root_scope(self.dep.account_id)

    def set_state(self, key: Key, state: str) -> None:
        with self.dep.db.write() as tx:
            key_repo.update_key(tx, key.key_id, key_state=state)


@pytest.fixture
def world(tmp_path: Path) -> World:
    return World(tmp_path)


def test_create_alias_refuses_key_pending_deletion(world: World) -> None:
    """CreateAlias on a PendingDeletion key is Rejected.StateModifiedFailed; other states are fine."""
    key = world.key()
    for n, state in enumerate(("Disabled", "PendingImport")):
        world.set_state(key, state)
        assert key.key_id == world.aliases.create(world.scope, f"alias/s{n}", key.key_id)
    world.set_state(key, "PendingDeletion")
    with pytest.raises(errors.StateTransitionRefused):
        world.aliases.create(world.scope, "alias/late", key.key_id)


def test_update_alias_checks_only_the_target(world: World) -> None:
    """UpdateAlias refuses a target pending deletion (Rejected.PendingDeletion), whatever the old key's state."""
    old, target = world.key(), world.key()
    world.aliases.create(world.scope, "alias/x", old.key_id)
    world.set_state(old, "PendingDeletion")
    assert target.key_id == world.aliases.update(world.scope, "alias/x", target.key_id)
    world.set_state(old, "Enabled")
    world.set_state(target, "PendingDeletion")
    with pytest.raises(errors.KeyPendingDeletion):
        world.aliases.update(world.scope, "alias/x", target.key_id)
    assert target.key_id == world.keys.get(world.scope, "alias/x").key_id


def test_delete_alias_works_in_every_state_and_leaves_the_key(world: World) -> None:
    """DeleteAlias works for a key pending deletion and never touches the key."""
    key = world.key()
    world.aliases.create(world.scope, "alias/gone", key.key_id)
    world.set_state(key, "PendingDeletion")
    world.aliases.delete(world.scope, "alias/gone")
    assert world.keys.get(world.scope, key.key_id).key_state == "PendingDeletion"
    with pytest.raises(errors.AliasNotFound):
        world.keys.get(world.scope, "alias/gone")


def test_alias_resolves_everywhere_a_key_id_does(world: World) -> None:
    """resolve_id turns alias names and alias ARNs into the key id; unknown aliases are AliasNotFound."""
    key = world.key()
    world.aliases.create(world.scope, "alias/app/db", key.key_id)
    arn = f"acs:kms:{world.dep.region}:{world.dep.account_id}:alias/app/db"
    with world.dep.db.read() as tx:
        assert [key.key_id] * 3 == [world.keys.resolve_id(tx, world.scope, v) for v in ("alias/app/db", arn, key.key_id)]
        with pytest.raises(errors.AliasNotFound):
            world.keys.resolve_id(tx, world.scope, "alias/app/nope")
        with pytest.raises(errors.InvalidValue):
            world.keys.resolve_id(tx, world.scope, f"acs:kms:other-region:{world.dep.account_id}:alias/app/db")


def test_tag_batch_is_all_or_none(world: World) -> None:
    """One unknown resource in TagResources fails the call and tags nothing."""
    key = world.key()
    with pytest.raises(errors.KeyNotFound):
        world.tags.tag(world.scope, KEY, [key.key_id, "00000000-0000-4000-8000-000000000000"], {"a": "1"}, "ResourceId")
    assert world.tags.tags_of(world.scope, KEY, key.key_id, "KeyId")[1] == {}


def test_per_resource_limit_counts_existing_tags(world: World) -> None:
    """A resource holds at most 20 tags: overwriting is free, the 21st distinct key is refused."""
    key = world.key({f"k{i}": "v" for i in range(19)})
    world.tags.tag(world.scope, KEY, [key.key_id], {"k0": "new", "k19": "v"}, "KeyId")
    with pytest.raises(errors.LimitExceeded):
        world.tags.tag(world.scope, KEY, [key.key_id], {"k20": "v"}, "KeyId")
    found = world.tags.tags_of(world.scope, KEY, key.key_id, "KeyId")[1]
    assert (len(found), found["k0"]) == (20, "new")


def test_untag_all_and_by_key(world: World) -> None:
    """Untag removes named keys (absent ones skipped) or, with None, every tag."""
    a, b = world.key({"x": "1", "y": "2"}), world.key({"x": "1", "y": "2"})
    world.tags.untag(world.scope, KEY, [a.key_id], ["x", "not-there"], "KeyId")
    world.tags.untag(world.scope, KEY, [b.key_id], None, "KeyId")
    assert (world.tags.tags_of(world.scope, KEY, a.key_id, "KeyId")[1], world.tags.tags_of(world.scope, KEY, b.key_id, "KeyId")[1]) == ({"y": "2"}, {})


def test_secrets_are_taggable_once_they_exist(world: World) -> None:
    """ResourceType secret resolves names and ARNs against the secrets table; unknown is ResourceNotFound."""
    with pytest.raises(errors.ResourceNotFound):
        world.tags.tag(world.scope, SECRET, ["db/password"], {"a": "1"}, "SecretName")
    with world.dep.db.write() as tx:
        tx.run(
            secrets.insert().values(
                account_uid=world.dep.account_id, secret_name="db/password", encryption_key_id="k",
                create_time=0.0, update_time=0.0,
            )
        )
    arn = f"acs:kms:{world.dep.region}:{world.dep.account_id}:secret/db/password"
    world.tags.tag(world.scope, SECRET, [arn], {"a": "1"}, "SecretName")
    assert world.tags.tags_of(world.scope, SECRET, "db/password", "SecretName") == ("db/password", {"a": "1"})
    rows, _ = world.tags.list_page(world.scope, SECRET, [], [], None)
    assert rows == [("db/password", "a", "1")]


def test_list_tag_resources_pages_by_token_without_gaps(world: World) -> None:
    """ListTagResources returns 200 rows a page and a token until the last page, with no row twice."""
    made = [world.key({f"t{i:02d}": str(i) for i in range(20)}) for _ in range(11)]  # 220 rows
    seen: list[tuple[str, str, str]] = []
    token: str | None = None
    pages = 0
    while True:
        rows, token = world.tags.list_page(world.scope, KEY, [], [], token)
        pages += 1
        seen += rows
        if not token:
            break
    assert (pages, len(seen), len(set(seen))) == (2, 220, 220)
    assert sorted(seen) == seen
    assert {k.key_id for k in made} == {r[0] for r in seen}


def test_list_tag_resources_filters(world: World) -> None:
    """Tag.N keeps resources carrying every given tag and lists all their tags; ResourceId.N restricts."""
    a = world.key({"env": "prod", "team": "x"})
    b = world.key({"env": "dev", "team": "x"})
    world.aliases.create(world.scope, "alias/b", b.key_id)
    rows, _ = world.tags.list_page(world.scope, KEY, [], [("env", "prod"), ("team", None)], None)
    assert {(a.key_id, "env", "prod"), (a.key_id, "team", "x")} == set(rows)
    rows, _ = world.tags.list_page(world.scope, KEY, ["alias/b", "00000000-0000-4000-8000-000000000000"], [("team", "x")], None)
    assert {(b.key_id, "env", "dev"), (b.key_id, "team", "x")} == set(rows)


@pytest.mark.parametrize("token", ["!!!", "bm90IGpzb24", encode_token("a", "b")[:-2] + "zz", "WzFd"])
def test_bad_token_is_invalid_next_token(token: str) -> None:
    """A NextToken the server did not make is InvalidParameter NextToken, never a 500."""
    with pytest.raises(errors.InvalidValue) as info:
        decode_token(token)
    assert info.value.parameter == "NextToken"


def test_list_keys_filters_by_tag_and_alias_in_the_database(world: World) -> None:
    """TagKey/TagValue (one tag matching both) and AliasName filter ListKeys with exact TotalCount."""
    prod = world.key({"env": "prod"})
    mixed = world.key({"env": "dev", "team": "prod"})
    world.key()
    world.aliases.create(world.scope, "alias/prod", prod.key_id)
    world.aliases.create(world.scope, "alias/mixed", mixed.key_id)
    assert ([prod.key_id], 1) == world.keys.list_page(world.scope, 1, 10, {"TagKey": ["env"], "TagValue": ["prod"]})
    both = sorted([prod.key_id, mixed.key_id])  # same creation time: ordered by key id
    assert (both, 2) == world.keys.list_page(world.scope, 1, 10, {"TagKey": ["env"]})
    assert (both, 2) == world.keys.list_page(world.scope, 1, 10, {"TagValue": ["prod"]})
    assert ([mixed.key_id], 1) == world.keys.list_page(world.scope, 1, 10, {"AliasName": ["alias/mixed", "alias/none"]})
    assert world.keys.list_page(world.scope, 2, 1, {"AliasName": ["alias/prod"], "KeyState": ["Enabled"]}) == ([], 1)
    assert world.keys.list_page(world.scope, 1, 10, {"TagKey": ["env"], "AliasName": ["alias/none"]}) == ([], 0)


def test_policy_round_trip_and_default(world: World) -> None:
    """A key answers the default policy until one is set, then exactly the document set."""
    key = world.key()
    assert f"acs:ram::{world.dep.account_id}:*" in world.policies.get(world.scope, key.key_id, "default")
    document = '{"Version":"1","Statement":[{"Effect":"Deny","Principal":{"RAM":"acs:ram::1:user/a"},"Action":"kms:*","Resource":"*"}]}'
    world.policies.set(world.scope, key.key_id, "default", document)
    assert document == world.policies.get(world.scope, key.key_id, "default")
    assert key.revision < world.keys.get(world.scope, key.key_id).revision
    with pytest.raises(errors.ResourceNotFound):
        world.policies.get(world.scope, key.key_id, "other")
    with pytest.raises(errors.InvalidValue):
        world.policies.set(world.scope, key.key_id, "other", document)


def test_tag_changes_bump_the_key_revision(world: World) -> None:
    """Tagging and untagging a key bump its revision (tags feed kms:tag policy conditions)."""
    key = world.key()
    world.tags.tag(world.scope, KEY, [key.key_id], {"a": "1"}, "KeyId")
    tagged = world.keys.get(world.scope, key.key_id).revision
    world.tags.untag(world.scope, KEY, [key.key_id], ["a"], "KeyId")
    assert key.revision < tagged < world.keys.get(world.scope, key.key_id).revision
