"""STS in the services (service/sts.py): SecurityTokens sealed and opened (round trip, any
alteration, expiry, another deployment's key, another AccessKeyId), and AssumeRole's decisions
made with the policy engine over users, groups, roles and attachments made through the RAM
services."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest

from openkms.domain import ram
from openkms.domain.ram import Owner
from openkms.domain.sts import (
    Claims,
    StsError,
    TokenExpired,
    TokenMalformed,
    TokenMismatch,
    pack,
    token_header,
    unpack,
)
from openkms.service.access_keys import Credential, CredentialStore
from openkms.service.sts import TOKEN_LABEL, Issued, SessionTokens, session_of
from tests.support.inprocess import START, World, open_memory_world


def _claims(world: World, *, expires_in: int = 900, akid: str = "STS.abcdefghijklmnopqrstuvwx") -> Claims:
    now = int(world.clock.now())
    return Claims(
        access_key_id=akid,
        secret="S" * 32,
        account_uid=world.dep.account_id,
        role_id="12345678901234567",
        role_name="KmsUser",
        session_name="s1",
        issued=now,
        expires=now + expires_in,
        policy=None,
        caller_arn=f"acs:ram::{world.dep.account_id}:user/alice",
    )


def _tokens(world: World) -> SessionTokens:
    return world.services.sts.tokens


# -- tokens ------------------------------------------------------------------------------------------


def test_a_token_opens_to_its_claims(world: World) -> None:
    """issue then open with the same AccessKeyId gives the claims back."""
    claims = _claims(world)
    token = _tokens(world).issue(claims)
    assert _tokens(world).open(claims.access_key_id, token) == claims


def test_tokens_are_sealed_not_encoded(world: World) -> None:
    """Nothing of the claims is readable in the token: not the secret, the AccessKeyId, the
    role or the account."""
    claims = _claims(world)
    token = _tokens(world).issue(claims)
    _, _, sealed = unpack(token)
    for clear in (claims.secret, claims.access_key_id, claims.role_name, claims.account_uid):
        assert clear not in token
        assert clear.encode() not in sealed


def test_two_tokens_of_the_same_claims_differ(world: World) -> None:
    """Each seal draws a fresh nonce."""
    claims = _claims(world)
    assert _tokens(world).issue(claims) != _tokens(world).issue(claims)


def test_any_altered_character_is_malformed(world: World) -> None:
    """Every single-character change of a token, at every position, is TokenMalformed (the
    genuine token opened and kept by the process first)."""
    claims = _claims(world)
    token = _tokens(world).issue(claims)
    assert _tokens(world).open(claims.access_key_id, token) == claims
    for at in range(len(token)):
        for char in {"A", "z"} - {token[at]}:
            altered = token[:at] + char + token[at + 1 :]
            with pytest.raises(TokenMalformed):
                _tokens(world).open(claims.access_key_id, altered)


def test_truncated_extended_and_relabelled_tokens_are_malformed(world: World) -> None:
    """A token cut short, grown, re-headed with another KEK version, or absurdly long."""
    claims = _claims(world)
    token = _tokens(world).issue(claims)
    header, _, sealed = unpack(token)
    for bad in (
        token[:-1],
        token + "A",
        pack(token_header(2), sealed),
        pack(header, sealed[:-1]),
        "CAIS" * 9000,
    ):
        with pytest.raises(TokenMalformed):
            _tokens(world).open(claims.access_key_id, bad)


def test_a_token_of_another_deployment_is_malformed(world: World) -> None:
    """A token sealed under another deployment's key (another root, another KEK) does not open."""
    other = open_memory_world()
    try:
        claims = _claims(other)
        token = other.services.sts.tokens.issue(claims)
    finally:
        other.close()
    with pytest.raises(TokenMalformed):
        _tokens(world).open(claims.access_key_id, token)


def test_a_token_sealed_for_another_purpose_does_not_open(world: World) -> None:
    """The token subkey is the tokens' own: a blob sealed under the same KEK for another label
    does not open as a token."""
    claims = _claims(world)
    header = token_header(world.dep.keyring.current)
    from openkms.domain.sts import encode_claims, token_aad

    _, sealed = world.dep.keyring.seal_for(b"openkms/other/v1", encode_claims(claims), token_aad(header))
    with pytest.raises(TokenMalformed):
        _tokens(world).open(claims.access_key_id, pack(header, sealed))
    _, sealed = world.dep.keyring.seal_for(TOKEN_LABEL, encode_claims(claims), token_aad(header))
    assert _tokens(world).open(claims.access_key_id, pack(header, sealed)) == claims


def test_a_token_of_another_access_key_id_is_a_mismatch(world: World) -> None:
    """A genuine token presented with any other AccessKeyId is TokenMismatch, opened before
    (and kept by the process) or not."""
    claims = _claims(world)
    token = _tokens(world).issue(claims)
    fresh = SessionTokens(world.dep.keyring, world.clock)
    with pytest.raises(TokenMismatch):
        fresh.open("STS.abcdefghijklmnopqrstuvwy", token)
    assert _tokens(world).open(claims.access_key_id, token) == claims
    for other in ("STS.abcdefghijklmnopqrstuvwy", "LTAI5tTestAccessKeyId0001", ""):
        with pytest.raises(TokenMismatch):
            _tokens(world).open(other, token)


def test_a_token_expires_at_its_expiration(world: World) -> None:
    """Valid up to the second before Expiration, TokenExpired from it on (kept by the process
    or not)."""
    claims = _claims(world, expires_in=900)
    token = _tokens(world).issue(claims)
    world.clock.advance(899)
    assert _tokens(world).open(claims.access_key_id, token) == claims
    world.clock.advance(1)
    with pytest.raises(TokenExpired):
        _tokens(world).open(claims.access_key_id, token)
    with pytest.raises(TokenExpired):
        SessionTokens(world.dep.keyring, world.clock).open(claims.access_key_id, token)


def test_another_process_opens_the_token(world: World) -> None:
    """Services built afresh over the same deployment (another worker) open it: nothing about a
    session is held in memory."""
    claims = _claims(world)
    token = _tokens(world).issue(claims)
    assert world.another_process().sts.tokens.open(claims.access_key_id, token) == claims


def test_the_credential_store_answers_a_session(world: World) -> None:
    """CredentialStore.session: the token's secret, active, owned by the role's session in the
    role's account (no user)."""
    claims = _claims(world)
    token = _tokens(world).issue(claims)
    store = CredentialStore(world.dep, world.services.caches.credentials)
    found = store.session(claims.access_key_id, token)
    assert found == Credential(claims.secret, True, session_of(claims))
    assert found.owner.user_id is None and found.owner.session is not None
    assert (found.owner.session.role_name, found.owner.session.expires) == ("KmsUser", claims.expires)
    assert not found.owner.is_root
    assert claims.secret not in repr(found)


def test_sts_access_key_ids_cannot_be_made_permanent(world: World) -> None:
    """A permanent AccessKey may not take an id beginning STS.: such ids are sessions'."""
    from openkms.service.access_keys import AccessKeyError, create

    with pytest.raises(AccessKeyError):
        create(world.dep, "STS.madeup000000000000000", "x" * 30)


# -- AssumeRole ----------------------------------------------------------------------------------------


TRUST_ALICE = "alice"


def _trust(account: str, *entries: str) -> str:
    principals = [f"acs:ram::{account}:{e}" for e in entries]
    return json.dumps(
        {
            "Version": "1",
            "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole", "Principal": {"RAM": principals}}],
        }
    )


class Scene:
    """§6.5's account: alice and bob with AliyunSTSAssumeRoleAccess (bob through a group), carl
    with nothing, the role kmsuser trusting alice and carl."""

    def __init__(self, world: World) -> None:
        self.world = world
        self.acct = acct = world.dep.account_id
        r, p = world.services.ram, world.services.ram_policies
        self.users = {name: r.create_user(acct, name) for name in ("alice", "bob", "carl")}
        p.attach(acct, ram.SYSTEM, "AliyunSTSAssumeRoleAccess", ram.USER, "alice")
        r.create_group(acct, "assumers")
        r.add_user_to_group(acct, "assumers", "bob")
        p.attach(acct, ram.SYSTEM, "AliyunSTSAssumeRoleAccess", ram.GROUP, "assumers")
        self.role = r.create_role(acct, "KmsUser", _trust(acct, "user/alice", "user/bob", "user/carl"))
        self.arn = ram.role_arn(acct, "KmsUser")

    def owner(self, name: str) -> Owner:
        return Owner(self.acct, self.users[name].user_id)

    def assume(self, who: str | Owner, session: str = "s1", **kw: object) -> Issued:
        owner = self.owner(who) if isinstance(who, str) else who
        return self.world.services.sts.assume_role(owner, kw.pop("role_arn", self.arn), session, **kw)  # type: ignore[arg-type]


@pytest.fixture
def scene(world: World) -> Scene:
    return Scene(world)


def _code(call: Callable[[], object]) -> str:
    with pytest.raises(StsError) as refused:
        call()
    return refused.value.code


def test_assume_role_issues_a_session(scene: Scene) -> None:
    """alice gets a session of kmsuser: STS. AccessKeyId, Expiration now + duration, the role's
    account, id and name, the session name, alice as the caller; its token opens."""
    issued = scene.assume("alice", "build-7", duration=1200)
    c = issued.claims
    assert c.access_key_id.startswith("STS.")
    assert (c.account_uid, c.role_id, c.role_name, c.session_name) == (
        scene.acct,
        scene.role.role_id,
        "KmsUser",
        "build-7",
    )
    assert (c.issued, c.expires) == (int(START), int(START) + 1200)
    assert c.caller_arn == f"acs:ram::{scene.acct}:user/alice"
    assert issued.arn == f"acs:ram::{scene.acct}:role/kmsuser/build-7"
    assert issued.assumed_role_id == f"{scene.role.role_id}:build-7"
    assert scene.world.services.sts.tokens.open(c.access_key_id, issued.token) == c


def test_a_group_policy_counts(scene: Scene) -> None:
    """bob's right to call AssumeRole comes from his group."""
    assert scene.assume("bob").claims.caller_arn.endswith(":user/bob")


def test_refusals(scene: Scene) -> None:
    """carl (trusted, without sts:AssumeRole): NoPermission, for an absent role too; the root:
    NoPermission; a role nobody made: EntityNotExist.Role; a role not trusting the caller:
    NoPermission."""
    absent = ram.role_arn(scene.acct, "nobody")
    assert _code(lambda: scene.assume("carl")) == "NoPermission"
    assert _code(lambda: scene.assume("carl", role_arn=absent)) == "NoPermission"
    assert _code(lambda: scene.assume(Owner(scene.acct))) == "NoPermission"
    assert _code(lambda: scene.assume("alice", role_arn=absent)) == "EntityNotExist.Role"
    scene.world.services.ram.create_role(scene.acct, "private", _trust(scene.acct, "user/bob"))
    assert (
        _code(lambda: scene.assume("alice", role_arn=ram.role_arn(scene.acct, "private"))) == "NoPermission"
    )


def test_a_trust_policy_naming_the_account_admits_its_users(scene: Scene) -> None:
    """acs:ram::<uid>:root in a trust policy names every user of the account; the root itself
    is still refused."""
    scene.world.services.ram.create_role(scene.acct, "open", _trust(scene.acct, "root"))
    arn = ram.role_arn(scene.acct, "open")
    assert scene.assume("alice", role_arn=arn)
    assert _code(lambda: scene.assume(Owner(scene.acct), role_arn=arn)) == "NoPermission"


def test_an_explicit_deny_in_the_callers_policies(scene: Scene) -> None:
    """A Deny of sts:AssumeRole on the role beside the system policy's Allow: NoPermission."""
    p, acct = scene.world.services.ram_policies, scene.acct
    deny = {"Effect": "Deny", "Action": "sts:AssumeRole", "Resource": scene.arn}
    p.create_policy(acct, "no-kmsuser", json.dumps({"Version": "1", "Statement": [deny]}))
    p.attach(acct, ram.CUSTOM, "no-kmsuser", ram.USER, "alice")
    assert _code(lambda: scene.assume("alice")) == "NoPermission"


def test_a_custom_policy_naming_the_role_arn(scene: Scene) -> None:
    """carl with a custom policy allowing sts:AssumeRole on kmsuser's ARN only: that role, and
    no other."""
    p, acct = scene.world.services.ram_policies, scene.acct
    allow = {"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": scene.arn}
    p.create_policy(acct, "just-kmsuser", json.dumps({"Version": "1", "Statement": [allow]}))
    p.attach(acct, ram.CUSTOM, "just-kmsuser", ram.USER, "carl")
    assert scene.assume("carl")
    scene.world.services.ram.create_role(scene.acct, "other", _trust(scene.acct, "user/carl"))
    assert _code(lambda: scene.assume("carl", role_arn=ram.role_arn(acct, "other"))) == "NoPermission"


def test_role_names_in_any_case(scene: Scene) -> None:
    """The role's name in the ARN is matched in any case, as RAM's names are."""
    assert scene.assume("alice", role_arn=f"acs:ram::{scene.acct}:role/KMSUSER").claims.role_name == "KmsUser"


def test_durations_follow_the_roles_maximum(scene: Scene) -> None:
    """Default 3600 s; up to the role's MaxSessionDuration, not beyond; never under 900."""
    assert scene.assume("alice").claims.expires == int(START) + 3600
    assert _code(lambda: scene.assume("alice", duration=3601)) == "InvalidParameter.DurationSeconds"
    assert _code(lambda: scene.assume("alice", duration=899)) == "InvalidParameter.DurationSeconds"
    scene.world.services.ram.update_role(scene.acct, "kmsuser", new_max_session_duration=43200)
    assert scene.assume("alice", duration=43200).claims.expires == int(START) + 43200


def test_session_policy_rules(scene: Scene) -> None:
    """A session Policy is kept in the claims; over 2048 characters it is PolicySize, outside
    the identity-policy grammar PolicyGrammar (a Principal, say)."""
    narrow = json.dumps(
        {"Version": "1", "Statement": [{"Effect": "Allow", "Action": "kms:Decrypt", "Resource": "*"}]}
    )
    assert scene.assume("alice", policy=narrow).claims.policy == narrow
    assert _code(lambda: scene.assume("alice", policy=narrow + " " * (2049 - len(narrow)))) == (
        "InvalidParameter.PolicySize"
    )
    with_principal = json.dumps(
        {
            "Version": "1",
            "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*", "Principal": {"RAM": "*"}}],
        }
    )
    assert _code(lambda: scene.assume("alice", policy=with_principal)) == "InvalidParameter.PolicyGrammar"


def test_a_session_chains_only_as_its_role_and_policy_allow(scene: Scene) -> None:
    """A session of kmsuser may assume a role trusting kmsuser once kmsuser's policies allow
    sts:AssumeRole; a session policy without sts:AssumeRole holds it back."""
    w, acct = scene.world, scene.acct
    w.services.ram.create_role(acct, "next", _trust(acct, "role/kmsuser"))
    nxt = ram.role_arn(acct, "next")
    session = session_of(scene.assume("alice", "first").claims)
    assert _code(lambda: scene.assume(session, role_arn=nxt)) == "NoPermission"
    w.services.ram_policies.attach(acct, ram.SYSTEM, "AliyunSTSAssumeRoleAccess", ram.ROLE, "KmsUser")
    chained = scene.assume(session, "second", role_arn=nxt).claims
    assert (chained.role_name, chained.caller_arn) == ("next", f"acs:ram::{acct}:role/kmsuser/first")
    narrow = json.dumps(
        {"Version": "1", "Statement": [{"Effect": "Allow", "Action": "kms:*", "Resource": "*"}]}
    )
    held = session_of(scene.assume("alice", "held", policy=narrow).claims)
    assert _code(lambda: scene.assume(held, role_arn=nxt)) == "NoPermission"


def test_caller_identity(scene: Scene) -> None:
    """Account, RAMUser and AssumedRoleUser, with their ARNs and ids."""
    sts, acct = scene.world.services.sts, scene.acct
    root = sts.caller_identity(Owner(acct))
    assert (root.identity_type, root.arn, root.user_id, root.role_id) == (
        "Account",
        f"acs:ram::{acct}:root",
        acct,
        None,
    )
    alice = sts.caller_identity(scene.owner("alice"))
    alice_id = scene.users["alice"].user_id
    assert (alice.identity_type, alice.arn, alice.user_id, alice.principal_id) == (
        "RAMUser",
        f"acs:ram::{acct}:user/alice",
        alice_id,
        alice_id,
    )
    session = sts.caller_identity(session_of(scene.assume("alice", "me").claims))
    assert (session.identity_type, session.arn, session.role_id, session.principal_id, session.user_id) == (
        "AssumedRoleUser",
        f"acs:ram::{acct}:role/kmsuser/me",
        scene.role.role_id,
        f"{scene.role.role_id}:me",
        None,
    )
