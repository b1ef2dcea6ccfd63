"""STS (2015-04-01) through the official clients against a real server: AssumeRole by the
alibabacloud-sts20150401 SDK (V3 and HMAC-SHA1) and by alibabacloud-credentials'
RamRoleArnCredentialsProvider (V1 GET over TLS), GetCallerIdentity, the temporary credentials
signing KMS calls through both KMS SDKs, and every refusal of a token (access-control reference
§6.5, cases 37-47).

Users, roles and attachments are made through the RAM SDK with names of their own (a random
suffix), so the tests share the session's server.
"""

from __future__ import annotations

import calendar
import json
import re
import secrets
import ssl
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from alibabacloud_credentials.provider import RamRoleArnCredentialsProvider
from alibabacloud_kms20160120 import models as kms
from alibabacloud_kms20160120.client import Client as KmsClient
from alibabacloud_ram20150501 import models as ram_models
from alibabacloud_ram20150501.client import Client as RamClient
from alibabacloud_sts20150401 import models as sts_models
from alibabacloud_sts20150401.client import Client as StsClient
from alibabacloud_tea_openapi import models as open_api_models
from alibabacloud_tea_openapi.exceptions import ClientException
from aliyunsdkcore.acs_exception.exceptions import ServerException
from aliyunsdkcore.auth.credentials import StsTokenCredential
from aliyunsdkcore.client import AcsClient
from aliyunsdkkms.request.v20160120.ListKeysRequest import ListKeysRequest

from openkms.domain.ram import Owner
from tests.integration.test_serve import _self_signed
from tests.support.clients import REGION, RawSigner, ram_client, tea_client
from tests.support.inprocess import open_world
from tests.support.sdk_errors import tea_error
from tests.support.server import ACCESS_KEY_ID, ACCESS_KEY_SECRET, ServerProcess, running

EXPIRATION = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z")


def _config(endpoint: str, ak: str, secret: str, token: str | None = None, *, mode: str = "v3",
            protocol: str = "http") -> open_api_models.Config:  # fmt: skip
    extra = {"signature_algorithm": "v2"} if mode == "v2" else {}
    return open_api_models.Config(
        access_key_id=ak, access_key_secret=secret, security_token=token, region_id=REGION,
        endpoint=endpoint, protocol=protocol, **extra,
    )  # fmt: skip


def sts_client(endpoint: str, ak: str, secret: str, token: str | None = None, *, mode: str = "v3",
               protocol: str = "http") -> StsClient:  # fmt: skip
    """The official STS SDK: V3 (its default) or HMAC-SHA1 (``mode`` v2)."""
    return StsClient(_config(endpoint, ak, secret, token, mode=mode, protocol=protocol))


@dataclass(frozen=True)
class Pair:
    access_key_id: str
    secret: str
    token: str | None = None


@dataclass(frozen=True)
class Setup:
    """§6.5's account A on the shared server: alice and bob (both with
    AliyunSTSAssumeRoleAccess), and the role kmsuser trusting alice only."""

    endpoint: str
    account: str
    alice: Pair
    alice_id: str
    alice_name: str
    bob: Pair
    role_name: str
    role_id: str
    role_arn: str

    def assume(self, session: str = "s1", *, caller: Pair | None = None, mode: str = "v3",
               **kw: Any) -> sts_models.AssumeRoleResponseBody:  # fmt: skip
        who = caller or self.alice
        client = sts_client(self.endpoint, who.access_key_id, who.secret, who.token, mode=mode)
        request = sts_models.AssumeRoleRequest(
            role_arn=kw.pop("role_arn", self.role_arn), role_session_name=session, **kw
        )
        return client.assume_role(request).body

    def session(self, name: str = "s1", **kw: Any) -> Pair:
        c = self.assume(name, **kw).credentials
        return Pair(c.access_key_id, c.access_key_secret, c.security_token)


def _suffix() -> str:
    return secrets.token_hex(4)


def _trust(*principals: str) -> str:
    return json.dumps(
        {
            "Version": "1",
            "Statement": [
                {"Effect": "Allow", "Action": "sts:AssumeRole", "Principal": {"RAM": list(principals)}}
            ],
        }
    )


def _user(ram: RamClient, name: str, *policies: str) -> Pair:
    ram.create_user(ram_models.CreateUserRequest(user_name=name))
    for policy in policies:
        ram.attach_policy_to_user(
            ram_models.AttachPolicyToUserRequest(policy_type="System", policy_name=policy, user_name=name)
        )
    made = ram.create_access_key(ram_models.CreateAccessKeyRequest(user_name=name)).body.access_key
    return Pair(made.access_key_id, made.access_key_secret)


def build_setup(endpoint: str, ram: RamClient) -> Setup:
    suffix = _suffix()
    alice_name, bob_name = f"alice-{suffix}", f"bob-{suffix}"
    alice = _user(ram, alice_name, "AliyunSTSAssumeRoleAccess")
    bob = _user(ram, bob_name, "AliyunSTSAssumeRoleAccess")
    account = sts_client(endpoint, alice.access_key_id, alice.secret).get_caller_identity().body.account_id
    role_name = f"KmsUser-{suffix}"
    role = ram.create_role(
        ram_models.CreateRoleRequest(
            role_name=role_name, assume_role_policy_document=_trust(f"acs:ram::{account}:user/{alice_name}")
        )
    ).body.role
    # The session may use KMS (the tests list and create keys with it) and list AccessKeys.
    ram.attach_policy_to_role(
        ram_models.AttachPolicyToRoleRequest(
            policy_type="System", policy_name="AliyunKMSFullAccess", role_name=role_name
        )
    )
    keys_policy = f"list-keys-{suffix}"
    ram.create_policy(
        ram_models.CreatePolicyRequest(
            policy_name=keys_policy,
            policy_document=json.dumps(
                {
                    "Version": "1",
                    "Statement": [{"Effect": "Allow", "Action": "ram:ListAccessKeys", "Resource": "*"}],
                }
            ),
        )
    )
    ram.attach_policy_to_role(
        ram_models.AttachPolicyToRoleRequest(
            policy_type="Custom", policy_name=keys_policy, role_name=role_name
        )
    )
    alice_id = ram.get_user(ram_models.GetUserRequest(user_name=alice_name)).body.user.user_id
    return Setup(endpoint, account, alice, alice_id, alice_name, bob, role_name, role.role_id, role.arn)


@pytest.fixture(scope="module")
def setup(server: ServerProcess) -> Setup:
    return build_setup(server.endpoint, ram_client(server.endpoint))


def _expiration(text: str) -> int:
    assert EXPIRATION.fullmatch(text), text
    return calendar.timegm(time.strptime(text, "%Y-%m-%dT%H:%M:%SZ"))


# -- 37: AssumeRole -----------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["v3", "v2"])
def test_37_assume_role_through_the_sts_sdk(setup: Setup, mode: str) -> None:
    """alice assumes kmsuser for 900 s: an STS. AccessKeyId, a secret, a token, Expiration
    now + 900 s in Alibaba's format, and the session's ARN and id."""
    before = int(time.time())
    body = setup.assume("build-7", mode=mode, duration_seconds=900)
    after = int(time.time())
    c = body.credentials
    assert c.access_key_id.startswith("STS.")
    assert len(c.access_key_secret) >= 16
    assert c.security_token.startswith("CAIS")
    assert before + 900 <= _expiration(c.expiration) <= after + 900
    assert body.assumed_role_user.arn == f"acs:ram::{setup.account}:role/{setup.role_name.lower()}/build-7"
    assert body.assumed_role_user.assumed_role_id == f"{setup.role_id}:build-7"
    assert body.request_id


def test_37_default_duration_is_an_hour(setup: Setup) -> None:
    """Without DurationSeconds a session lasts 3600 s."""
    before = int(time.time())
    c = setup.assume().credentials
    assert before + 3600 <= _expiration(c.expiration) <= int(time.time()) + 3600


@pytest.fixture(scope="module")
def tls_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ServerProcess, Path]]:
    """A server of the module's own serving HTTPS under a self-signed certificate."""
    tmp = tmp_path_factory.mktemp("sts-tls")
    cert, key = _self_signed(tmp)
    srv = ServerProcess(tmp / "data", extra_args=["--tls-cert", str(cert), "--tls-key", str(key)])
    srv.ssl_context = ssl.create_default_context(cafile=str(cert))
    with running(srv):
        yield srv, cert


def test_37_ram_role_arn_credentials_provider_over_tls(
    tls_server: tuple[ServerProcess, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """alibabacloud-credentials' RamRoleArnCredentialsProvider (a V1-signed GET, always HTTPS)
    gets a session from openkms, trusting its certificate through the system store
    (SSL_CERT_FILE); the session then signs over TLS too."""
    srv, cert = tls_server
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))
    ram = RamClient(_config(srv.endpoint, ACCESS_KEY_ID, ACCESS_KEY_SECRET, protocol="https"))
    tls = build_setup_over(srv.endpoint, ram)
    provider = RamRoleArnCredentialsProvider(
        access_key_id=tls.alice.access_key_id,
        access_key_secret=tls.alice.secret,
        role_arn=tls.role_arn,
        role_session_name="ci-runner",
        duration_seconds=900,
        sts_endpoint=srv.endpoint,
    )
    before = int(time.time())
    got = provider.get_credentials()
    assert got.get_access_key_id().startswith("STS.")
    assert before + 900 <= got.get_expiration() <= int(time.time()) + 900
    who = (
        sts_client(
            srv.endpoint,
            got.get_access_key_id(),
            got.get_access_key_secret(),
            got.get_security_token(),
            protocol="https",
        )
        .get_caller_identity()
        .body
    )
    assert (who.identity_type, who.arn) == (
        "AssumedRoleUser",
        f"acs:ram::{tls.account}:role/{tls.role_name.lower()}/ci-runner",
    )


def build_setup_over(endpoint: str, ram: RamClient) -> Setup:
    """:func:`build_setup` with clients that speak HTTPS."""
    suffix = _suffix()
    alice_name = f"alice-{suffix}"
    alice = _user(ram, alice_name, "AliyunSTSAssumeRoleAccess")
    account = (
        sts_client(endpoint, alice.access_key_id, alice.secret, protocol="https")
        .get_caller_identity()
        .body.account_id
    )
    role_name = f"kmsuser-{suffix}"
    role = ram.create_role(
        ram_models.CreateRoleRequest(
            role_name=role_name, assume_role_policy_document=_trust(f"acs:ram::{account}:user/{alice_name}")
        )
    ).body.role
    return Setup(endpoint, account, alice, "", alice_name, alice, role_name, role.role_id, role.arn)


# -- 38-41: refusals -----------------------------------------------------------------------------


def test_38_a_caller_the_trust_policy_does_not_name_is_refused(setup: Setup) -> None:
    """bob may call AssumeRole but kmsuser does not trust him: 403 NoPermission."""
    assert tea_error(lambda: setup.assume(caller=setup.bob)) == ("NoPermission", 403)


def test_38_a_caller_without_sts_assume_role_is_refused(server: ServerProcess, setup: Setup) -> None:
    """A user the trust policy names but whose own policies do not allow sts:AssumeRole: 403
    NoPermission, whether or not the role exists (nothing is learnt of which roles exist)."""
    ram = ram_client(server.endpoint)
    name = f"carl-{_suffix()}"
    carl = _user(ram, name)
    role_name = f"trusts-carl-{_suffix()}"
    arn = ram.create_role(
        ram_models.CreateRoleRequest(
            role_name=role_name, assume_role_policy_document=_trust(f"acs:ram::{setup.account}:user/{name}")
        )
    ).body.role.arn
    assert tea_error(lambda: setup.assume(caller=carl, role_arn=arn)) == ("NoPermission", 403)
    absent = f"acs:ram::{setup.account}:role/none-{_suffix()}"
    assert tea_error(lambda: setup.assume(caller=carl, role_arn=absent)) == ("NoPermission", 403)


def test_39_the_account_root_cannot_assume_a_role(setup: Setup) -> None:
    """The account's root AccessKey: 403 NoPermission, even for a role trusting the account."""
    root = Pair(ACCESS_KEY_ID, ACCESS_KEY_SECRET)
    assert tea_error(lambda: setup.assume(caller=root)) == ("NoPermission", 403)


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"duration_seconds": 899}, "InvalidParameter.DurationSeconds"),
        ({"duration_seconds": 3601}, "InvalidParameter.DurationSeconds"),  # past the role's 3600
        ({"session": "a"}, "InvalidParameter.RoleSessionName"),
        ({"session": "x" * 65}, "InvalidParameter.RoleSessionName"),
        ({"session": "bad name"}, "InvalidParameter.RoleSessionName"),
        ({"policy": "x" * 2049}, "InvalidParameter.PolicySize"),
        ({"policy": '{"Version":"1","Statement":[]}'}, "InvalidParameter.PolicyGrammar"),
        ({"role_arn": "kmsuser"}, "InvalidParameter.RoleArn"),
        ({"external_id": "a"}, "InvalidParameter.ExternalId"),
    ],
)
def test_40_bad_parameters(setup: Setup, change: dict[str, Any], code: str) -> None:
    """DurationSeconds outside 900..MaxSessionDuration, a RoleSessionName outside 2-64 of
    [A-Za-z0-9.@_-], a Policy over 2048 characters or not a policy, a RoleArn that is not one:
    400 with STS's code."""
    session = change.pop("session", "s1")
    assert tea_error(lambda: setup.assume(session, **change)) == (code, 400)


def test_40_limits_are_inclusive(setup: Setup) -> None:
    """DurationSeconds 900 and 3600, a 64-character session name and a 2048-character policy
    are accepted, as is an ExternalId."""
    statement = {"Effect": "Allow", "Action": "kms:Encrypt", "Resource": "*"}
    policy = json.dumps({"Version": "1", "Statement": [statement]})
    policy = policy[:-1] + " " * (2048 - len(policy)) + "}"
    assert len(policy) == 2048
    assert setup.assume("s" * 64, duration_seconds=3600, policy=policy, external_id="abc:1/2")
    assert setup.assume("ab", duration_seconds=900)


def test_source_identity_is_refused_not_dropped(setup: Setup) -> None:
    """SourceIdentity, which openkms does not carry into a session: 400 UnsupportedOperation."""
    assert tea_error(lambda: setup.assume(source_identity="alice")) == ("UnsupportedOperation", 400)


def test_41_a_role_that_does_not_exist(setup: Setup) -> None:
    """404 EntityNotExist.Role."""
    absent = f"acs:ram::{setup.account}:role/none-{_suffix()}"
    assert tea_error(lambda: setup.assume(role_arn=absent)) == ("EntityNotExist.Role", 404)


# -- 42: the temporary credentials sign KMS calls ------------------------------------------------


def _logged(server: ServerProcess, request_id: str) -> list[tuple[str, str, int]]:
    """(action, AccessKeyId, status) of the server's log lines for ``request_id``; the log is
    written in batches, so it is read until the line is there (at most 5 s)."""
    deadline = time.monotonic() + 5
    while True:
        lines = [json.loads(x) for x in server.log_path.read_text().splitlines() if x.startswith("{")]
        seen = [
            (x["action"], x["access_key_id"], x["status"])
            for x in lines
            if x["logger"] == "openkms.request" and x["request_id"] == request_id
        ]
        if seen or time.monotonic() > deadline:
            return seen
        time.sleep(0.05)


@pytest.mark.parametrize("mode", ["v3", "v2", "v4"])
def test_42_the_tea_kms_sdk_signs_with_the_session(server: ServerProcess, setup: Setup, mode: str) -> None:
    """Config(access_key_id, access_key_secret, security_token): the Tea KMS SDK sends the token
    (V3/V4 headers, HMAC-SHA1 query) and its calls succeed as the session's AccessKeyId."""
    s = setup.session(f"tea-{mode}")
    extra = {"signature_version": "v4"} if mode == "v4" else {}
    config = _config(setup.endpoint, s.access_key_id, s.secret, s.token, mode=mode)
    for name, value in extra.items():
        setattr(config, name, value)
    client = KmsClient(config)
    key_id = client.create_key(kms.CreateKeyRequest()).body.key_metadata.key_id
    blob = client.encrypt(kms.EncryptRequest(key_id=key_id, plaintext="aGVsbG8=")).body.ciphertext_blob
    request_id = client.decrypt(kms.DecryptRequest(ciphertext_blob=blob)).body.request_id
    assert _logged(server, request_id) == [("Decrypt", s.access_key_id, 200)]


def test_42_the_old_kms_sdk_signs_with_the_session(server: ServerProcess, setup: Setup) -> None:
    """StsTokenCredential: the old SDK sends SecurityToken in the signed query; its call
    succeeds as the session's AccessKeyId."""
    s = setup.session("old-sdk")
    assert s.token is not None
    client = AcsClient(region_id=REGION, credential=StsTokenCredential(s.access_key_id, s.secret, s.token))
    request = ListKeysRequest()
    request.set_endpoint(setup.endpoint)
    request.set_protocol_type("http")
    request_id = json.loads(client.do_action_with_exception(request))["RequestId"]
    assert _logged(server, request_id) == [("ListKeys", s.access_key_id, 200)]


def test_a_session_assumes_a_role_its_role_may(server: ServerProcess, setup: Setup) -> None:
    """A role's session is a caller too: with sts:AssumeRole in its role's policies and named by
    the next role's trust policy it chains; a session policy that does not allow
    sts:AssumeRole holds it back (403 NoPermission)."""
    ram = ram_client(server.endpoint)
    ram.attach_policy_to_role(
        ram_models.AttachPolicyToRoleRequest(
            policy_type="System", policy_name="AliyunSTSAssumeRoleAccess", role_name=setup.role_name
        )
    )
    next_name = f"next-{_suffix()}"
    next_arn = ram.create_role(
        ram_models.CreateRoleRequest(
            role_name=next_name,
            assume_role_policy_document=_trust(f"acs:ram::{setup.account}:role/{setup.role_name.lower()}"),
        )
    ).body.role.arn
    free = setup.session("free")
    chained = setup.assume("chained", caller=free, role_arn=next_arn)
    assert chained.assumed_role_user.arn == f"{next_arn}/chained"
    narrow = json.dumps(
        {"Version": "1", "Statement": [{"Effect": "Allow", "Action": "kms:*", "Resource": "*"}]}
    )
    held = setup.session("held", policy=narrow)
    assert tea_error(lambda: setup.assume("again", caller=held, role_arn=next_arn)) == ("NoPermission", 403)


# -- 44, 46: refused tokens ------------------------------------------------------------------------


def _kms(setup: Setup, pair: Pair, mode: str = "v3") -> KmsClient:
    return KmsClient(_config(setup.endpoint, pair.access_key_id, pair.secret, pair.token, mode=mode))


def _old_error(setup: Setup, pair: Pair) -> tuple[str, int]:
    """An old-SDK ListKeys with ``pair`` (its token through StsTokenCredential) that must be
    refused: (code, status)."""
    client = AcsClient(
        region_id=REGION, credential=StsTokenCredential(pair.access_key_id, pair.secret, pair.token)
    )
    request = ListKeysRequest()
    request.set_endpoint(setup.endpoint)
    request.set_protocol_type("http")
    with pytest.raises(ServerException) as info:
        client.do_action_with_exception(request)
    return info.value.get_error_code(), info.value.get_http_status()


def _altered(token: str, at: int) -> str:
    """``token`` with the character at ``at`` replaced by another of the alphabet."""
    replacement = "A" if token[at] != "A" else "B"
    return token[:at] + replacement + token[at + 1 :]


@pytest.mark.parametrize("mode", ["v3", "v2"])
def test_44_missing_altered_and_mismatched_tokens(setup: Setup, mode: str) -> None:
    """An STS AccessKeyId without a token: 400 MissingSecurityToken; with its token altered by
    one character anywhere: 400 InvalidSecurityToken.Malformed; with another session's token:
    400 InvalidSecurityToken.MismatchWithAccessKey (Tea SDK, V3 headers or HMAC-SHA1 query)."""
    s, other = setup.session("mine"), setup.session("theirs")
    assert s.token is not None
    without = Pair(s.access_key_id, s.secret)
    assert tea_error(lambda: _kms(setup, without, mode).list_keys(kms.ListKeysRequest())) == (
        "MissingSecurityToken",
        400,
    )
    for at in (4, 5, len(s.token) // 2, len(s.token) - 1):
        altered = Pair(s.access_key_id, s.secret, _altered(s.token, at))
        assert tea_error(lambda a=altered: _kms(setup, a, mode).list_keys(kms.ListKeysRequest())) == (  # type: ignore[misc]
            "InvalidSecurityToken.Malformed",
            400,
        )
    swapped = Pair(s.access_key_id, s.secret, other.token)
    assert tea_error(lambda: _kms(setup, swapped, mode).list_keys(kms.ListKeysRequest())) == (
        "InvalidSecurityToken.MismatchWithAccessKey",
        400,
    )
    assert _kms(setup, s, mode).list_keys(kms.ListKeysRequest()).body.request_id


def test_44_refused_tokens_through_the_old_sdk(setup: Setup) -> None:
    """The same refusals through the old SDK (SecurityToken in the V1 query)."""
    s, other = setup.session("old-mine"), setup.session("old-theirs")
    assert s.token is not None and other.token is not None
    assert _old_error(setup, Pair(s.access_key_id, s.secret, "")) == ("MissingSecurityToken", 400)
    assert _old_error(setup, Pair(s.access_key_id, s.secret, _altered(s.token, 40))) == (
        "InvalidSecurityToken.Malformed",
        400,
    )
    assert _old_error(setup, Pair(s.access_key_id, s.secret, other.token)) == (
        "InvalidSecurityToken.MismatchWithAccessKey",
        400,
    )


def test_44_an_expired_token(server: ServerProcess, setup: Setup) -> None:
    """A session whose Expiration has passed: 400 InvalidSecurityToken.Expired, through both KMS
    SDKs and the STS SDK. The session is issued by another process over the server's store with
    its clock set back, which also shows that any process of the deployment opens any token."""
    world = open_world(server.data_dir, server.database, create=False)
    try:
        world.clock.at = time.time() - 2000
        issued = world.services.sts.assume_role(
            Owner(setup.account, setup.alice_id), setup.role_arn, "old", 900
        )
    finally:
        world.close()
    c = issued.claims
    expired = Pair(c.access_key_id, c.secret, issued.token)
    for mode in ("v3", "v2"):
        assert tea_error(lambda m=mode: _kms(setup, expired, m).list_keys(kms.ListKeysRequest())) == (  # type: ignore[misc]
            "InvalidSecurityToken.Expired",
            400,
        )
    assert _old_error(setup, expired) == ("InvalidSecurityToken.Expired", 400)
    caller = sts_client(setup.endpoint, c.access_key_id, c.secret, issued.token)
    assert tea_error(caller.get_caller_identity) == ("InvalidSecurityToken.Expired", 400)


def test_44_a_token_issued_by_another_process_is_good_until_expiry(
    server: ServerProcess, setup: Setup
) -> None:
    """Tokens are stateless: one sealed by another process of the deployment, still valid,
    authenticates at the server."""
    world = open_world(server.data_dir, server.database, create=False)
    try:
        world.clock.at = time.time()
        issued = world.services.sts.assume_role(
            Owner(setup.account, setup.alice_id), setup.role_arn, "elsewhere"
        )
    finally:
        world.close()
    c = issued.claims
    who = sts_client(setup.endpoint, c.access_key_id, c.secret, issued.token).get_caller_identity().body
    assert who.arn == f"acs:ram::{setup.account}:role/{setup.role_name.lower()}/elsewhere"


def test_a_token_with_a_permanent_access_key(setup: Setup) -> None:
    """A SecurityToken sent with a permanent AccessKey is checked as any token is: made up, it
    is 400 InvalidSecurityToken.Malformed; a genuine one belongs to another AccessKeyId, 400
    InvalidSecurityToken.MismatchWithAccessKey; an empty one counts as none."""
    s = setup.session("borrowed")
    assert s.token is not None
    made_up = Pair(setup.alice.access_key_id, setup.alice.secret, "CAIS" + "x" * 60)
    borrowed = Pair(setup.alice.access_key_id, setup.alice.secret, s.token)
    for mode in ("v3", "v2"):
        assert tea_error(lambda m=mode: _kms(setup, made_up, m).list_keys(kms.ListKeysRequest())) == (  # type: ignore[misc]
            "InvalidSecurityToken.Malformed",
            400,
        )
        assert tea_error(lambda m=mode: _kms(setup, borrowed, m).list_keys(kms.ListKeysRequest())) == (  # type: ignore[misc]
            "InvalidSecurityToken.MismatchWithAccessKey",
            400,
        )
    assert _old_error(setup, made_up) == ("InvalidSecurityToken.Malformed", 400)
    raw = RawSigner(setup.endpoint, setup.alice.access_key_id, setup.alice.secret)
    # Authenticated as alice (no token error); alice may only assume roles, so the permission
    # system answers.
    empty = raw.v1("ListKeys", {"SecurityToken": ""})
    assert (empty.status, empty.json()["Code"]) == (403, "Forbidden.NoPermission")


def test_46_accesskey_id_header_must_name_the_credential(setup: Setup) -> None:
    """A V3 request whose signed x-acs-accesskey-id differs from its Credential's AccessKeyId:
    400 InvalidSecurityToken.MismatchWithAccessKey; the same request naming its own is served."""
    s = setup.session("header")
    assert s.token is not None
    raw = RawSigner(setup.endpoint, s.access_key_id, s.secret)
    ok = raw.v3("ListKeys", signed={"x-acs-security-token": s.token, "x-acs-accesskey-id": s.access_key_id})
    assert ok.status == 200, ok.body
    other = raw.v3(
        "ListKeys", signed={"x-acs-security-token": s.token, "x-acs-accesskey-id": setup.alice.access_key_id}
    )
    assert (other.status, other.json()["Code"]) == (400, "InvalidSecurityToken.MismatchWithAccessKey")


def test_an_unsigned_token_header_is_refused(setup: Setup) -> None:
    """V3: an x-acs-security-token header that SignedHeaders does not name is 400
    IncompleteSignature (the token decides whose secret checks the signature)."""
    s = setup.session("unsigned")
    assert s.token is not None
    raw = RawSigner(setup.endpoint, s.access_key_id, s.secret)
    answer = raw.v3("ListKeys", tamper={"x-acs-security-token": s.token})
    assert (answer.status, answer.json()["Code"]) == (400, "IncompleteSignature")


def test_a_token_in_the_signed_v3_query(setup: Setup) -> None:
    """V3 may carry the token as the signed query's SecurityToken, as V1 does."""
    s = setup.session("query")
    assert s.token is not None
    raw = RawSigner(setup.endpoint, s.access_key_id, s.secret)
    assert raw.v3("ListKeys", {"SecurityToken": s.token}).status == 200


# -- 47: GetCallerIdentity ------------------------------------------------------------------------


def test_47_get_caller_identity(setup: Setup) -> None:
    """A user's AccessKey: RAMUser, the user's ARN and id; a session: AssumedRoleUser, the
    session's ARN, the role's id and <roleId>:<session>; the root: Account."""
    user = (
        sts_client(setup.endpoint, setup.alice.access_key_id, setup.alice.secret).get_caller_identity().body
    )
    assert (user.identity_type, user.account_id, user.arn, user.user_id, user.principal_id, user.role_id) == (
        "RAMUser",
        setup.account,
        f"acs:ram::{setup.account}:user/{setup.alice_name}",
        setup.alice_id,
        setup.alice_id,
        None,
    )
    s = setup.session("who")
    session = sts_client(setup.endpoint, s.access_key_id, s.secret, s.token).get_caller_identity().body
    assert (
        session.identity_type,
        session.account_id,
        session.arn,
        session.role_id,
        session.principal_id,
    ) == (
        "AssumedRoleUser",
        setup.account,
        f"acs:ram::{setup.account}:role/{setup.role_name.lower()}/who",
        setup.role_id,
        f"{setup.role_id}:who",
    )
    assert session.user_id is None
    root = sts_client(setup.endpoint, ACCESS_KEY_ID, ACCESS_KEY_SECRET).get_caller_identity().body
    assert (root.identity_type, root.arn, root.user_id) == (
        "Account",
        f"acs:ram::{setup.account}:root",
        setup.account,
    )


def test_sts_answers_xml_and_refuses_unknown_actions(setup: Setup) -> None:
    """Format=XML renders GetCallerIdentityResponse; an action STS does not have is 404
    InvalidAction.NotFound under STS's version."""
    raw = RawSigner(setup.endpoint, setup.alice.access_key_id, setup.alice.secret)
    xml = raw.v1("GetCallerIdentity", version="2015-04-01", fmt="XML")
    assert xml.status == 200
    assert b"<GetCallerIdentityResponse>" in xml.body and b"<IdentityType>RAMUser</IdentityType>" in xml.body
    missing = raw.v1("AssumeRoleWithSAML", version="2015-04-01")
    assert (missing.status, missing.json()["Code"]) == (404, "InvalidAction.NotFound")


def test_a_session_must_name_the_user_whose_access_keys_it_manages(
    server: ServerProcess, setup: Setup
) -> None:
    """RAM's AccessKey actions without UserName act on the caller's own pairs; a session has
    none, so it must name the user (400 MissingParameter) rather than reach the root's."""
    s = setup.session("ram")
    client = RamClient(_config(server.endpoint, s.access_key_id, s.secret, s.token))
    assert tea_error(lambda: client.list_access_keys(ram_models.ListAccessKeysRequest())) == (
        "MissingParameter",
        400,
    )


def test_43_a_session_policy_narrows_the_role(setup: Setup) -> None:
    """A session created with the policy {Allow kms:Decrypt on *}: Encrypt is refused with
    PolicyType SessionPolicy, although the role may encrypt."""
    root = tea_client(setup.endpoint)
    key_id = root.create_key(kms.CreateKeyRequest()).body.key_metadata.key_id
    blob = root.encrypt(kms.EncryptRequest(key_id=key_id, plaintext="aGk=")).body.ciphertext_blob
    only_decrypt = json.dumps(
        {"Version": "1", "Statement": [{"Effect": "Allow", "Action": "kms:Decrypt", "Resource": "*"}]}
    )
    narrow = setup.session("narrow", policy=only_decrypt)
    client = KmsClient(_config(setup.endpoint, narrow.access_key_id, narrow.secret, narrow.token))
    with pytest.raises(ClientException) as caught:
        client.encrypt(kms.EncryptRequest(key_id=key_id, plaintext="aGk="))
    detail = caught.value.access_denied_detail
    assert (caught.value.code, detail["PolicyType"], detail["AuthPrincipalType"]) == (
        "Forbidden.NoPermission",
        "SessionPolicy",
        "AssumedRoleUser",
    )
    assert client.decrypt(kms.DecryptRequest(ciphertext_blob=blob)).body.key_id == key_id


def test_45_detaching_the_roles_policy_cuts_a_live_session(server: ServerProcess) -> None:
    """A session's rights are its role's at each request: once the role's policy is detached,
    the next Encrypt with the still-valid token is refused (within the staleness bound; at once
    on the node that wrote it)."""
    ram = ram_client(server.endpoint)
    setup = build_setup(server.endpoint, ram)
    key_id = tea_client(server.endpoint).create_key(kms.CreateKeyRequest()).body.key_metadata.key_id
    s = setup.session("cut")
    client = KmsClient(_config(server.endpoint, s.access_key_id, s.secret, s.token))
    assert client.encrypt(kms.EncryptRequest(key_id=key_id, plaintext="aGk=")).body.key_id == key_id
    ram.detach_policy_from_role(
        ram_models.DetachPolicyFromRoleRequest(
            policy_type="System", policy_name="AliyunKMSFullAccess", role_name=setup.role_name
        )
    )
    with pytest.raises(ClientException) as caught:
        client.encrypt(kms.EncryptRequest(key_id=key_id, plaintext="aGk="))
    assert caught.value.code == "Forbidden.NoPermission"
