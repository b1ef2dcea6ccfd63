"""Tenancy at the service level: how a KeyId, an alias or a secret name resolves for two accounts
of one deployment, that the one decision on cross-account use (``may_use_other_account``) is
what admits or refuses another account's resource, and that the per-process read cache keeps
accounts apart."""

from __future__ import annotations

import pytest

from openkms.domain import errors
from openkms.domain.arn import alias_arn, key_arn, secret_arn
from openkms.domain.key import Key
from openkms.jobs import build_runner
from openkms.service import accounts, tenancy
from openkms.service.tags import KEY, SECRET
from openkms.service.tenancy import Scope, root_scope
from tests.support.inprocess import World

DAY = 86400
MISSING = "00000000-0000-4000-8000-000000000000"


def _second(world: World) -> Scope:
    """A second account of ``world``'s deployment, as its root's requests see it."""
    return root_scope(accounts.create(world.dep, "b").uid)


def _key(world: World, scope: Scope) -> Key:
    return world.keys.create(
        key_spec="Aliyun_AES_256", key_usage=None, origin="Aliyun_KMS", protection_level="SOFTWARE",
        description="", enable_automatic_rotation=False, rotation_interval=None, tag_map={"team": scope.account_uid},
        account_uid=scope.account_uid,
    )  # fmt: skip


def _secret(world: World, scope: Scope, name: str, data: str) -> None:
    world.services.secrets.create(
        scope, name=name, version_id="v1", data=data, data_type="text", description="",
        encryption_key_id=None, tag_map={"team": scope.account_uid}, policy=None,
    )  # fmt: skip


@pytest.fixture
def granted(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str, str]]:
    """``may_use_other_account`` answering yes, as a policy granting the use would; records
    each (caller's account, owner, action) it was asked about."""
    asked: list[tuple[str, str, str]] = []

    def grant(caller: tenancy.Caller, owner: str, action: str) -> bool:
        asked.append((caller.account_uid, owner, action))
        return True

    monkeypatch.setattr(tenancy, "may_use_other_account", grant)
    return asked


def test_only_use_actions_reach_another_accounts_resources() -> None:
    """The hop has decided a request before its handler runs; what reaches a handler from
    another account is admitted for the use actions (both sides allowed it) and refused for
    everything else (never allowed across accounts)."""
    caller = tenancy.Caller("LTAIx", "req", "1111111111111111")
    for action in ("Encrypt", "Decrypt", "GenerateDataKey", "ReEncrypt", "GetSecretValue", "DescribeKey"):
        assert tenancy.may_use_other_account(caller, "2222222222222222", action) is True, action
        Scope(caller, action).admit("2222222222222222")
    for action in ("DisableKey", "ScheduleKeyDeletion", "SetKeyPolicy", "PutSecretValue", "TagResource"):
        assert tenancy.may_use_other_account(caller, "2222222222222222", action) is False, action
        with pytest.raises(errors.NoPermission):
            Scope(caller, action).admit("2222222222222222")
    Scope(caller, "DisableKey").admit("1111111111111111")  # its own: always


def test_a_bare_key_id_resolves_in_the_callers_account(world: World) -> None:
    """Account B asking for A's bare key id gets KeyNotFound, for reads and changes alike."""
    a, b = world.scope, _second(world)
    key = _key(world, a)
    assert world.keys.get(a, key.key_id) == key
    with pytest.raises(errors.KeyNotFound):
        world.keys.get(b, key.key_id)
    with pytest.raises(errors.KeyNotFound):
        world.services.lifecycle.disable_key(b, key.key_id)
    assert world.keys.get(a, key.key_id).key_state == "Enabled"


def test_an_arn_of_another_account_is_refused_before_it_is_looked_up(world: World) -> None:
    """A's key or alias ARN is NoPermission for B, whether it names something or not; an ARN of
    A naming B's key id finds nothing in A."""
    a, b = world.scope, _second(world)
    region, key = world.dep.region, _key(world, a)
    mine = _key(world, b)
    world.services.aliases.create(a, "alias/x", key.key_id)
    for ref in (
        key_arn(region, a.account_uid, key.key_id),
        key_arn(region, a.account_uid, MISSING),
        alias_arn(region, a.account_uid, "alias/x"),
        alias_arn(region, a.account_uid, "alias/none"),
    ):
        with pytest.raises(errors.NoPermission):
            world.keys.get(b, ref)
    assert world.keys.get(a, key_arn(region, a.account_uid, key.key_id)) == key
    with pytest.raises(errors.KeyNotFound):
        world.keys.get(a, key_arn(region, a.account_uid, mine.key_id))


def test_the_one_decision_admits_another_accounts_arn(
    world: World, granted: list[tuple[str, str, str]]
) -> None:
    """When ``may_use_other_account`` allows, B reaches A's key by its ARN (and A's alias by
    its ARN), asked with B's account, A as owner and the action; a bare id still resolves in B."""
    a, b = world.scope, _second(world)
    b = Scope(b.caller, "Encrypt")
    key = _key(world, a)
    world.services.aliases.create(a, "alias/x", key.key_id)
    region = world.dep.region
    assert world.keys.get(b, key_arn(region, a.account_uid, key.key_id)) == key
    assert world.keys.get(b, alias_arn(region, a.account_uid, "alias/x")) == key
    assert granted == [(b.account_uid, a.account_uid, "Encrypt")] * 2
    with pytest.raises(errors.KeyNotFound):
        world.keys.get(b, key.key_id)


def test_a_ciphertext_of_another_accounts_key_is_a_cross_account_use(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Decrypt takes the key from the blob: B decrypting A's blob is refused unless the one
    decision allows it, and then asked with the key's owner."""
    a, b = world.scope, _second(world)
    key = _key(world, a)
    blob = world.services.symmetric.encrypt(a, key.key_id, b"of a", {}).blob
    with pytest.raises(errors.NoPermission):
        world.services.symmetric.decrypt(b, blob, {})
    with pytest.raises(errors.NoPermission):
        world.services.symmetric.reencrypt(b, blob, {}, _key(world, b).key_id, {})
    asked: list[str] = []
    monkeypatch.setattr(tenancy, "may_use_other_account", lambda _c, owner, _a: asked.append(owner) or True)
    assert world.services.symmetric.decrypt(b, blob, {}).plaintext == b"of a"
    assert asked == [a.account_uid]


def test_resolve_answers_the_owner_without_deciding(world: World) -> None:
    """KeyService.resolve and SecretService.resolve (for what authorizes a request) find A's key
    and secret by their ARNs for B and say who owns them, deciding nothing; bare ids and names
    still resolve in the asking account."""
    a, b = world.scope, _second(world)
    key = _key(world, a)
    found = world.keys.resolve(b.account_uid, key_arn(world.dep.region, a.account_uid, key.key_id))
    assert (found.key_id, found.account_uid) == (key.key_id, a.account_uid)
    with pytest.raises(errors.KeyNotFound):
        world.keys.resolve(b.account_uid, key.key_id)
    _secret(world, a, "theirs", "x")
    secret = world.services.secrets.resolve(
        b.account_uid, secret_arn(world.dep.region, a.account_uid, "theirs")
    )
    assert (secret.account_uid, secret.secret_name) == (a.account_uid, "theirs")
    with pytest.raises(errors.ResourceNotFound):
        world.services.secrets.resolve(b.account_uid, "theirs")


def test_alias_names_are_per_account(world: World) -> None:
    """A and B each have alias/x, bound to their own keys; each account's listing holds its own
    alias only; an alias never points at another account's key."""
    a, b = world.scope, _second(world)
    ka, kb = _key(world, a), _key(world, b)
    world.services.aliases.create(a, "alias/x", ka.key_id)
    world.services.aliases.create(b, "alias/x", kb.key_id)
    with pytest.raises(errors.AlreadyExists):
        world.services.aliases.create(b, "alias/x", kb.key_id)
    assert (world.keys.get(a, "alias/x"), world.keys.get(b, "alias/x")) == (ka, kb)
    assert world.services.aliases.list_page(a, 1, 100) == (a.account_uid, [("alias/x", ka.key_id)], 1)
    assert world.services.aliases.list_page(b, 1, 100) == (b.account_uid, [("alias/x", kb.key_id)], 1)
    world.services.aliases.delete(b, "alias/x")
    assert world.keys.get(a, "alias/x") == ka
    with pytest.raises(errors.AliasNotFound):
        world.keys.get(b, "alias/x")


def test_an_alias_never_points_into_another_account(
    world: World, granted: list[tuple[str, str, str]]
) -> None:
    """Even with cross-account use granted, B's alias cannot name A's key, and B's secret is not
    sealed under A's key."""
    a, b = world.scope, _second(world)
    arn = key_arn(world.dep.region, a.account_uid, _key(world, a).key_id)
    with pytest.raises(errors.InvalidValue):
        world.services.aliases.create(b, "alias/theirs", arn)
    with pytest.raises(errors.InvalidValue):
        world.services.secrets.create(
            b, name="s", version_id="v1", data="x", data_type="text", description="",
            encryption_key_id=arn, tag_map={}, policy=None,
        )  # fmt: skip


def test_listings_hold_the_callers_account_only(world: World) -> None:
    """ListKeys, ListSecrets and ListTagResources (keys and secrets) of each account list its own."""
    a, b = world.scope, _second(world)
    ka, kb = _key(world, a), _key(world, b)
    _secret(world, a, "same", "of a")
    _secret(world, b, "same", "of b")
    secrets = world.services.secrets
    mine_a = {ka.key_id, secrets.default_key_id(a.account_uid)}
    mine_b = {kb.key_id, secrets.default_key_id(b.account_uid)}
    listed_a, listed_b = world.keys.list_page(a, 1, 100, {}), world.keys.list_page(b, 1, 100, {})
    assert (set(listed_a[0]), listed_a[1], set(listed_b[0]), listed_b[1]) == (mine_a, 2, mine_b, 2)
    assert world.keys.list_page(b, 1, 100, {"TagKey": ["team"]}) == ([kb.key_id], 1)
    for scope, key in ((a, ka), (b, kb)):
        page, _ = world.services.secrets.list_page(scope, {}, 1, 100, True)
        assert [(s.account_uid, s.secret_name, t) for s, t in page] == [
            (scope.account_uid, "same", [("team", scope.account_uid)])
        ]
        assert world.services.tags.list_page(scope, KEY, [], [], None)[0] == [
            (key.key_id, "team", scope.account_uid)
        ]
        assert world.services.tags.list_page(scope, SECRET, [], [], None)[0] == [
            ("same", "team", scope.account_uid)
        ]


def test_secret_names_are_per_account(world: World) -> None:
    """A and B each have a secret "same", each read with its own value, under its own account's
    default key; A's secret ARN is NoPermission for B; deleting B's leaves A's."""
    a, b = world.scope, _second(world)
    _secret(world, a, "same", "of a")
    _secret(world, b, "same", "of b")
    secrets = world.services.secrets
    assert (secrets.get_value(a, "same", None, None).data, secrets.get_value(b, "same", None, None).data) == (
        "of a",
        "of b",
    )
    default_a, default_b = secrets.default_key_id(a.account_uid), secrets.default_key_id(b.account_uid)
    assert default_a != default_b
    assert world.keys.get(b, default_b).creator_type == "Service"
    assert secrets.describe(b, "same", False)[0].encryption_key_id == default_b
    with pytest.raises(errors.NoPermission):
        secrets.get_value(b, secret_arn(world.dep.region, a.account_uid, "same"), None, None)
    secrets.delete(b, "same", force=True, window_days=7)
    assert (
        secrets.get_value(a, secret_arn(world.dep.region, a.account_uid, "same"), None, None).data == "of a"
    )
    with pytest.raises(errors.ResourceNotFound):
        secrets.get_value(b, "same", None, None)


def test_the_read_cache_keeps_accounts_apart(disk_world: World) -> None:
    """With reads kept between writes, B's lookup of alias/x or of secret "same" is never
    answered by A's kept entry."""
    world = disk_world
    a, b = world.scope, _second(world)
    ka, kb = _key(world, a), _key(world, b)
    world.services.aliases.create(a, "alias/x", ka.key_id)
    world.services.aliases.create(b, "alias/x", kb.key_id)
    _secret(world, a, "same", "of a")
    _secret(world, b, "same", "of b")
    for _ in range(2):  # the second round is answered from the cache
        assert (world.keys.get(a, "alias/x").key_id, world.keys.get(b, "alias/x").key_id) == (
            ka.key_id,
            kb.key_id,
        )
        values = [world.services.secrets.get_value(s, "same", None, None).data for s in (a, b)]
        assert values == ["of a", "of b"]
    assert len(world.services.caches.reads) > 0


def test_jobs_work_across_accounts(world: World) -> None:
    """The deletion and purge jobs act on every account's due keys and secrets."""
    a, b = world.scope, _second(world)
    doomed = [_key(world, a), _key(world, b)]
    for scope, key in zip((a, b), doomed, strict=True):
        world.services.lifecycle.schedule_key_deletion(scope, key.key_id, 7)
        _secret(world, scope, "gone", "x")
        world.services.secrets.delete(scope, "gone", force=False, window_days=7)
    world.clock.advance(8 * DAY)
    build_runner(world.services, holder="a").tick()
    for scope, key in zip((a, b), doomed, strict=True):
        with pytest.raises(errors.KeyNotFound):
            world.keys.get(scope, key.key_id)
        with pytest.raises(errors.ResourceNotFound):
            world.services.secrets.describe(scope, "gone", False)
