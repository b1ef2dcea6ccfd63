"""The official Secrets Manager client (alibabacloud-secretsmanager-client-v2) reading a secret
from openkms with a RAM role's STS temporary credentials, in both of the ways the client takes
credentials: an open_api ``Config`` carrying the session's AccessKey and SecurityToken (plain
HTTP), and its own ``RegionInfo`` path with a credentials provider that assumes the role itself
(always HTTPS). A session of a role without the permission is refused with the server's
``Forbidden.NoPermission``.

Users, roles and secrets have names of their own (a random suffix), so the tests share the
session's server.
"""

from __future__ import annotations

import json
import logging
import ssl
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from alibabacloud_credentials.provider import RamRoleArnCredentialsProvider, StaticSTSCredentialsProvider
from alibabacloud_kms20160120 import models as kms
from alibabacloud_kms20160120.client import Client as KmsClient
from alibabacloud_ram20150501 import models as ram_models
from alibabacloud_ram20150501.client import Client as RamClient
from alibabacloud_secretsmanager_client_v2.secret_manager_cache_client_builder import (
    SecretManagerCacheClientBuilder,
)
from alibabacloud_secretsmanager_client_v2.service.default_secret_manager_client_builder import (
    DefaultSecretManagerClientBuilder,
    RegionInfo,
)
from alibabacloud_sts20150401 import models as sts_models

from tests.integration.test_serve import _self_signed
from tests.integration.test_sts import Pair, _config, _suffix, _trust, _user, sts_client
from tests.support.clients import REGION
from tests.support.server import ACCESS_KEY_ID, ACCESS_KEY_SECRET, ServerProcess, running


@dataclass(frozen=True)
class Roles:
    """A secret made by the account root, a user allowed to assume roles, and two roles trusting
    that user: ``reader``, allowed kms:GetSecretValue on that secret and kms:Decrypt on the key
    protecting it, and ``stranger``, with no policy at all."""

    secret_name: str
    secret_value: str
    user: Pair
    reader_arn: str
    stranger_arn: str


def _role(ram: RamClient, name: str, principal: str, policy: dict[str, object] | None = None) -> str:
    role = ram.create_role(
        ram_models.CreateRoleRequest(role_name=name, assume_role_policy_document=_trust(principal))
    ).body.role
    if policy is not None:
        ram.create_policy(
            ram_models.CreatePolicyRequest(policy_name=name, policy_document=json.dumps(policy))
        )
        ram.attach_policy_to_role(
            ram_models.AttachPolicyToRoleRequest(policy_type="Custom", policy_name=name, role_name=name)
        )
    return str(role.arn)


def _roles(endpoint: str, *, protocol: str) -> Roles:
    suffix = _suffix()
    secret_name, secret_value = f"app/db-{suffix}", f'{{"user":"app","password":"pw-{suffix}+/="}}'
    root = KmsClient(_config(endpoint, ACCESS_KEY_ID, ACCESS_KEY_SECRET, protocol=protocol))
    root.create_secret(
        kms.CreateSecretRequest(secret_name=secret_name, version_id="v1", secret_data=secret_value)
    )
    secret = root.describe_secret(kms.DescribeSecretRequest(secret_name=secret_name)).body
    ram = RamClient(_config(endpoint, ACCESS_KEY_ID, ACCESS_KEY_SECRET, protocol=protocol))
    user_name = f"app-{suffix}"
    user = _user(ram, user_name, "AliyunSTSAssumeRoleAccess")
    account = (
        sts_client(endpoint, user.access_key_id, user.secret, protocol=protocol)
        .get_caller_identity()
        .body.account_id
    )
    principal = f"acs:ram::{account}:user/{user_name}"
    # The secret sits under its account's default key, which openkms checks kms:Decrypt on.
    key_arn = f"acs:kms:{REGION}:{account}:key/{secret.encryption_key_id}"
    reader = _role(ram, f"SecretReader-{suffix}", principal, {
        "Version": "1",
        "Statement": [
            {"Effect": "Allow", "Action": "kms:GetSecretValue", "Resource": secret.arn},
            {"Effect": "Allow", "Action": "kms:Decrypt", "Resource": key_arn},
        ],
    })  # fmt: skip
    stranger = _role(ram, f"Stranger-{suffix}", principal)
    return Roles(secret_name, secret_value, user, reader, stranger)


def _assume(endpoint: str, user: Pair, role_arn: str) -> Pair:
    """AssumeRole through the official STS SDK: the session's temporary credentials."""
    c = (
        sts_client(endpoint, user.access_key_id, user.secret)
        .assume_role(sts_models.AssumeRoleRequest(role_arn=role_arn, role_session_name="app"))
        .body.credentials
    )
    assert c.access_key_id.startswith("STS.")
    return Pair(c.access_key_id, c.access_key_secret, c.security_token)


@pytest.fixture(autouse=True)
def _quiet() -> Iterator[None]:
    # The client logs every fetch at INFO and every refusal with a traceback at ERROR on its own
    # logger; a refusal is what some tests here expect.
    logger = logging.getLogger("SecretsManagerClientV2")
    level = logger.level
    logger.setLevel(logging.CRITICAL)
    yield
    logger.setLevel(level)


def _over_config(endpoint: str, session: Pair) -> object:
    """The client given an open_api Config holding the session's credentials, over plain HTTP."""
    config = _config(endpoint, session.access_key_id, session.secret, session.token)
    client = DefaultSecretManagerClientBuilder.standard().add_config(config).build()
    return SecretManagerCacheClientBuilder.new_cache_client_builder(client).build()


def test_role_session_reads_a_secret_through_a_config(server: ServerProcess) -> None:
    """A session of a role with AliyunKMSSecretUserAccess reads the secret's value and version;
    a session of a role without it is refused with Forbidden.NoPermission."""
    roles = _roles(server.endpoint, protocol="http")
    reader = _over_config(server.endpoint, _assume(server.endpoint, roles.user, roles.reader_arn))
    try:
        info = reader.get_secret_info(roles.secret_name)  # type: ignore[attr-defined]
        assert (info.secret_name, info.version_id, info.secret_value) == (
            roles.secret_name, "v1", roles.secret_value
        )  # fmt: skip
        assert reader.get_secret_value(roles.secret_name) == roles.secret_value  # type: ignore[attr-defined]
    finally:
        reader.close()  # type: ignore[attr-defined]

    stranger = _over_config(server.endpoint, _assume(server.endpoint, roles.user, roles.stranger_arn))
    try:
        with pytest.raises(Exception) as refused:
            stranger.get_secret_value(roles.secret_name)  # type: ignore[attr-defined]
    finally:
        stranger.close()  # type: ignore[attr-defined]
    assert refused.value.code == "Forbidden.NoPermission"  # type: ignore[attr-defined]
    assert roles.secret_value not in str(refused.value)


def test_static_sts_credentials_without_a_token_are_refused(server: ServerProcess) -> None:
    """The session's AccessKey without its SecurityToken signs nothing: the token is what the
    client must carry, and it does (the test above)."""
    roles = _roles(server.endpoint, protocol="http")
    session = _assume(server.endpoint, roles.user, roles.reader_arn)
    client = _over_config(server.endpoint, Pair(session.access_key_id, session.secret))
    try:
        with pytest.raises(Exception) as refused:
            client.get_secret_value(roles.secret_name)  # type: ignore[attr-defined]
    finally:
        client.close()  # type: ignore[attr-defined]
    assert refused.value.code == "MissingSecurityToken"  # type: ignore[attr-defined]
    assert roles.secret_value not in str(refused.value)


# -- the client's own RegionInfo path: always HTTPS ---------------------------------------------


@pytest.fixture(scope="module")
def tls_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ServerProcess, Path]]:
    """A server of the module's own serving HTTPS under a self-signed certificate."""
    tmp = tmp_path_factory.mktemp("smc-tls")
    cert, key = _self_signed(tmp)
    srv = ServerProcess(tmp / "data", extra_args=["--tls-cert", str(cert), "--tls-key", str(key)])
    srv.ssl_context = ssl.create_default_context(cafile=str(cert))
    with running(srv):
        yield srv, cert


def _over_region(endpoint: str, provider: object) -> object:
    """The client given a RegionInfo naming openkms and a credentials provider; it builds its own
    Config with protocol https."""
    client = (
        DefaultSecretManagerClientBuilder.standard()
        .add_region_info(RegionInfo(REGION, endpoint=endpoint))
        .with_credentials_provider(provider)
        .build()
    )
    return SecretManagerCacheClientBuilder.new_cache_client_builder(client).build()


@pytest.mark.parametrize("how", ["static-sts", "ram-role-arn"])
def test_role_session_reads_a_secret_through_a_provider_over_tls(
    tls_server: tuple[ServerProcess, Path], monkeypatch: pytest.MonkeyPatch, how: str
) -> None:
    """Over TLS (the certificate trusted through SSL_CERT_FILE): the session's credentials given
    as a StaticSTSCredentialsProvider, or a RamRoleArnCredentialsProvider that calls AssumeRole on
    openkms itself, read the secret; the role without the permission is refused."""
    srv, cert = tls_server
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))
    roles = _roles(srv.endpoint, protocol="https")

    def provider(role_arn: str) -> object:
        if how == "ram-role-arn":
            return RamRoleArnCredentialsProvider(
                access_key_id=roles.user.access_key_id,
                access_key_secret=roles.user.secret,
                role_arn=role_arn,
                role_session_name="app",
                duration_seconds=900,
                sts_endpoint=srv.endpoint,
            )
        c = (
            sts_client(srv.endpoint, roles.user.access_key_id, roles.user.secret, protocol="https")
            .assume_role(sts_models.AssumeRoleRequest(role_arn=role_arn, role_session_name="app"))
            .body.credentials
        )
        return StaticSTSCredentialsProvider(
            access_key_id=c.access_key_id,
            access_key_secret=c.access_key_secret,
            security_token=c.security_token,
        )

    reader = _over_region(srv.endpoint, provider(roles.reader_arn))
    try:
        assert reader.get_secret_value(roles.secret_name) == roles.secret_value  # type: ignore[attr-defined]
    finally:
        reader.close()  # type: ignore[attr-defined]
    stranger = _over_region(srv.endpoint, provider(roles.stranger_arn))
    try:
        with pytest.raises(Exception) as refused:
            stranger.get_secret_value(roles.secret_name)  # type: ignore[attr-defined]
    finally:
        stranger.close()  # type: ignore[attr-defined]
    assert refused.value.code == "Forbidden.NoPermission"  # type: ignore[attr-defined]
