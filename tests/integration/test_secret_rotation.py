"""Managed secrets end to end against real servers on loopback (PostgreSQL, MariaDB, Redis) and
a RAM user of the deployment: targets registered with `openkms secret-target create`, secrets
made through the Tea SDK, read with the official Secrets Manager client, the values logging in
(or signing requests), RotateSecret and the schedule, DoubleUsers' previous credential working
through one rotation, the server killed with SIGKILL right after each step of a rotation, a
target that is down, RotateSecret's hourly limit and UpdateSecret's CustomData.

The PostgreSQL target is a private cluster that checks passwords (tests/support/pg_password.py).
"""

from __future__ import annotations

import json
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from alibabacloud_kms20160120 import models as kms
from alibabacloud_kms20160120.client import Client as TeaClient
from alibabacloud_secretsmanager_client_v2.secret_manager_cache_client_builder import (
    SecretManagerCacheClientBuilder,
)
from alibabacloud_secretsmanager_client_v2.service.default_secret_manager_client_builder import (
    DefaultSecretManagerClientBuilder,
)

from tests.integration.test_sts import _config, _user, sts_client
from tests.support import mysql_accounts, redis_acl
from tests.support.calls import SDK
from tests.support.clients import ram_client, tea_client
from tests.support.inprocess import run_jobs_offline
from tests.support.pg_password import Cluster, password_cluster
from tests.support.server import ACCESS_KEY_ID, ACCESS_KEY_SECRET, CLI, ServerProcess
from tests.support.tcpproxy import TcpProxy

ADMIN_SECRET = "admin/pg"


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    with password_cluster() as c:
        c.make_admin("rotator", "admin-Pw-1")
        yield c


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory, cluster: Cluster) -> Iterator[ServerProcess]:
    """A server of the module's own that can be told to kill itself after a rotation step
    (OPENKMS_TEST_CRASH_AT); its job lease is short, so a restarted server resumes soon."""
    data = tmp_path_factory.mktemp("rotation") / "data"
    server = ServerProcess(
        data,
        module="tests.support.crashing_rotation_server",
        env={"OPENKMS_JOB_LEASE": "2", "OPENKMS_JOB_PERIOD": "0.5"},
    )
    server.start()
    try:
        tea = tea_client(server.endpoint)
        admin = json.dumps({"AccountName": "rotator", "AccountPassword": "admin-Pw-1"})
        tea.create_secret(
            kms.CreateSecretRequest(secret_name=ADMIN_SECRET, version_id="v1", secret_data=admin)
        )
        subprocess.run(
            [*CLI, "secret-target", "create", "pg-main", "--type", "postgresql", "--dsn", cluster.dsn,
             "--admin-secret", ADMIN_SECRET, *server.store_args],
            check=True, capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        yield server
    finally:
        server.stop()


def _app(cluster: Cluster) -> tuple[str, str]:
    name, password = f"app_{uuid.uuid4().hex[:8]}", "first-Pw-1"
    cluster.make_app(name, password)
    return name, password


def _create(tea: TeaClient, name: str, account: str, password: str, sub_type: str) -> None:
    tea.create_secret(
        kms.CreateSecretRequest(
            secret_name=name,
            version_id="v1",
            secret_type="Rds",
            secret_data=json.dumps({"Accounts": [{"AccountName": account, "AccountPassword": password}]}),
            extended_config={"SecretSubType": sub_type, "DBInstanceId": "pg-main", "CustomData": {}},
        )
    )


def _value(tea: TeaClient, name: str, stage: str = "ACSCurrent") -> tuple[str, str, str]:
    """ACSCurrent's (or ``stage``'s) account, password and VersionId."""
    body = tea.get_secret_value(kms.GetSecretValueRequest(secret_name=name, version_stage=stage)).body
    value = json.loads(body.secret_data)
    return value["AccountName"], value["AccountPassword"], str(body.version_id)


def _official_client_value(endpoint: str, name: str) -> dict[str, Any]:
    """The value as the official Secrets Manager client reads it."""
    config = _config(endpoint, ACCESS_KEY_ID, ACCESS_KEY_SECRET)
    client = DefaultSecretManagerClientBuilder.standard().add_config(config).build()
    cache = SecretManagerCacheClientBuilder.new_cache_client_builder(client).build()
    try:
        return json.loads(cache.get_secret_value(name))  # type: ignore[no-any-return]
    finally:
        cache.close()


def test_rds_secret_through_the_sdks(srv: ServerProcess, cluster: Cluster) -> None:
    """Created through the Tea SDK, read with the Secrets Manager client in Alibaba's shape, the
    value logs in; after RotateSecret the new value logs in and the old one does not."""
    tea = tea_client(srv.endpoint)
    account, first = _app(cluster)
    _create(tea, "db/e2e", account, first, "SingleUser")
    assert _official_client_value(srv.endpoint, "db/e2e") == {
        "AccountName": account,
        "AccountPassword": first,
    }
    assert cluster.reads_data(account, first, account)
    described = tea.describe_secret(kms.DescribeSecretRequest(secret_name="db/e2e")).body
    assert (described.secret_type, described.automatic_rotation) == ("Rds", "Disabled")

    rotated = tea.rotate_secret(kms.RotateSecretRequest(secret_name="db/e2e", version_id="r1")).body
    assert (rotated.secret_name, rotated.version_id) == ("db/e2e", "r1")
    name, password, version = _value(tea, "db/e2e")
    assert (name, version) == (account, "r1")
    assert cluster.reads_data(name, password, account)
    assert not cluster.logs_in(account, first)


def test_double_users_previous_value_works_through_one_rotation(srv: ServerProcess, cluster: Cluster) -> None:
    """DoubleUsers: a client holding the value from before a rotation keeps logging in; the
    rotation after that one retires it."""
    tea = tea_client(srv.endpoint)
    account, first = _app(cluster)
    _create(tea, "db/e2e-double", account, first, "DoubleUsers")
    held = _official_client_value(srv.endpoint, "db/e2e-double")
    tea.rotate_secret(kms.RotateSecretRequest(secret_name="db/e2e-double", version_id="r1"))
    name1, password1, _ = _value(tea, "db/e2e-double")
    assert cluster.reads_data(name1, password1, account)
    assert cluster.reads_data(held["AccountName"], held["AccountPassword"], account)
    tea.rotate_secret(kms.RotateSecretRequest(secret_name="db/e2e-double", version_id="r2"))
    assert cluster.reads_data(name1, password1, account)
    assert not cluster.logs_in(held["AccountName"], held["AccountPassword"])


def _restart(srv: ServerProcess, crash_at: str) -> TeaClient:
    srv.env["OPENKMS_TEST_CRASH_AT"] = crash_at
    srv.restart()
    return tea_client(srv.endpoint)


def _register(srv: ServerProcess, name: str, kind: str, dsn: str, admin_secret: str) -> None:
    """`openkms secret-target create`, as an operator runs it."""
    subprocess.run(
        [*CLI, "secret-target", "create", name, "--type", kind, "--dsn", dsn,
         "--admin-secret", admin_secret, *srv.store_args],
        check=True, capture_output=True, text=True, timeout=60,
    )  # fmt: skip


def _admin_secret(srv: ServerProcess, name: str, account: str, password: str) -> None:
    tea_client(srv.endpoint).create_secret(
        kms.CreateSecretRequest(
            secret_name=name,
            version_id="v1",
            secret_data=json.dumps({"AccountName": account, "AccountPassword": password}),
        )
    )


@pytest.fixture(scope="module")
def mysql_made(srv: ServerProcess) -> Iterator[list[str]]:
    """The MariaDB target `my-main`, its admin holding only the grants docs/secrets.md lists; the
    list of accounts to drop after the module."""
    with mysql_accounts.accounts() as made:
        admin = mysql_accounts.make_admin(made, "adm-Pw-1")
        _admin_secret(srv, "admin/my", admin, "adm-Pw-1")
        _register(srv, "my-main", "mysql", mysql_accounts.DSN, "admin/my")
        yield made


@pytest.fixture(scope="module")
def redis_made(srv: ServerProcess) -> Iterator[list[str]]:
    """The Redis target `redis-main`, its admin allowed only ACL SETUSER, USERS and LIST; the
    list of ACL users to delete after the module."""
    with redis_acl.acl_users() as made:
        admin = redis_acl.make_admin(made, "adm-Pw-1")
        _admin_secret(srv, "admin/redis", admin, "adm-Pw-1")
        _register(srv, "redis-main", "redis", redis_acl.DSN, "admin/redis")
        yield made


@dataclass
class Managed:
    """A managed secret made for a test: its name, the first value, and whether a value logs in
    (for RAMCredentials: signs a request the server accepts)."""

    name: str
    first: dict[str, Any]
    works: Callable[[dict[str, Any]], bool]


def _managed(
    request: pytest.FixtureRequest, srv: ServerProcess, target: str, sub_type: str, name: str, **extra: Any
) -> Managed:
    """A managed secret of ``target`` (postgresql, mysql, redis or ram), made through the Tea SDK
    on a fresh application account; ``extra`` goes to the CreateSecretRequest."""
    tea = tea_client(srv.endpoint)
    if target == "ram":
        user = f"rotated-{uuid.uuid4().hex[:8]}"
        pair = _user(ram_client(srv.endpoint), user)
        first = {"AccessKeyId": pair.access_key_id, "AccessKeySecret": pair.secret}
        tea.create_secret(
            kms.CreateSecretRequest(
                secret_name="$Auto",
                version_id="v1",
                secret_type="RAMCredentials",
                secret_data=json.dumps({"AccessKeys": [first]}),
                extended_config={"SecretSubType": sub_type, "UserName": user},
                **extra,
            )
        )
        return Managed(f"acs/ram/user/{user}", first, lambda v: _authenticates(srv.endpoint, v))
    password = "first-Pw-1"
    if target == "postgresql":
        cluster: Cluster = request.getfixturevalue("cluster")
        account = _app(cluster)[0]
        instance = {"DBInstanceId": "pg-main"}

        def works(v: dict[str, Any]) -> bool:
            return cluster.reads_data(v["AccountName"], v["AccountPassword"], account)
    elif target == "mysql":
        account = mysql_accounts.make_app(request.getfixturevalue("mysql_made"), password)
        instance = {"DBInstanceId": "my-main"}

        def works(v: dict[str, Any]) -> bool:
            return mysql_accounts.reads_data(v["AccountName"], v["AccountPassword"])
    else:
        account = redis_acl.make_app(request.getfixturevalue("redis_made"), password)
        instance = {"InstanceId": "redis-main"}

        def works(v: dict[str, Any]) -> bool:
            return redis_acl.logs_in(v["AccountName"], v["AccountPassword"])

    first = {"AccountName": account, "AccountPassword": password}
    tea.create_secret(
        kms.CreateSecretRequest(
            secret_name=name,
            version_id="v1",
            secret_type="Redis" if target == "redis" else "Rds",
            secret_data=json.dumps({"Accounts": [first]}),
            extended_config={"SecretSubType": sub_type, **instance},
            **extra,
        )
    )
    return Managed(name, first, works)


def _read(tea: TeaClient, name: str) -> tuple[dict[str, Any], str]:
    body = tea.get_secret_value(kms.GetSecretValueRequest(secret_name=name)).body
    return json.loads(body.secret_data), str(body.version_id)


SUB_TYPES = {
    "postgresql": ("SingleUser", "DoubleUsers"),
    "mysql": ("SingleUser", "DoubleUsers"),
    "redis": ("SingleUser", "DoubleUsers"),
    "ram": ("RamUserAccessKey",),
}
CRASH_STEPS = ("pending", "applied", "verified", "promoted")
# The default run kills each target in each mode once, every step killed somewhere; the whole
# matrix (28 kills) runs under the chaos marker.
DEFAULT_KILLS = {
    ("postgresql", "SingleUser", "applied"),
    ("postgresql", "DoubleUsers", "promoted"),
    ("mysql", "SingleUser", "verified"),
    ("mysql", "DoubleUsers", "applied"),
    ("redis", "SingleUser", "applied"),
    ("redis", "DoubleUsers", "pending"),
    ("ram", "RamUserAccessKey", "verified"),
    ("ram", "RamUserAccessKey", "applied"),
}


def _kill_cases() -> Iterator[Any]:
    for target, sub_types in SUB_TYPES.items():
        for sub_type in sub_types:
            for step in CRASH_STEPS:
                marks = () if (target, sub_type, step) in DEFAULT_KILLS else (pytest.mark.chaos,)
                yield pytest.param(target, sub_type, step, marks=marks, id=f"{target}-{sub_type}-{step}")


@pytest.mark.parametrize(("target", "sub_type", "step"), list(_kill_cases()))
def test_kill_9_at_each_step_leaves_a_credential_that_logs_in(
    request: pytest.FixtureRequest, srv: ServerProcess, target: str, sub_type: str, step: str
) -> None:
    """The server is SIGKILLed right after a rotation step is recorded (PostgreSQL, MariaDB and
    Redis accounts in both modes, a RAM user's AccessKeys). Restarted, the secret reads at once;
    in DoubleUsers and RAMCredentials its value works at once (in SingleUser the password may
    be changing: the job resumes as soon as the dead server's lease lapses), and the job
    finishes the rotation within seconds, after which the value works; in DoubleUsers and
    RAMCredentials the value from before the rotation still works too."""
    tea = _restart(srv, step)
    secret = _managed(request, srv, target, sub_type, f"kill/{target}-{sub_type}-{step}")
    with pytest.raises(Exception):  # the server dies inside the call
        tea.rotate_secret(kms.RotateSecretRequest(secret_name=secret.name, version_id="r1"))
    assert srv.proc is not None and srv.proc.wait(10) == -9
    srv.proc = None

    tea = _restart(srv, "")
    value, version = _read(tea, secret.name)
    if sub_type != "SingleUser" or step == "promoted":
        assert secret.works(value)
    deadline = time.monotonic() + 60
    while version != "r1" and time.monotonic() < deadline:
        time.sleep(0.3)
        value, version = _read(tea, secret.name)
    assert version == "r1" and value != secret.first
    assert secret.works(value)
    if sub_type != "SingleUser":
        assert secret.works(secret.first)
    else:
        assert not secret.works(secret.first)
    described = tea.describe_secret(kms.DescribeSecretRequest(secret_name=secret.name)).body
    assert described.last_rotation_date


def test_secret_target_cli_refuses_a_dsn_with_an_account(srv: ServerProcess, tmp_path: Path) -> None:
    """`openkms secret-target create` keeps credentials out of flags: a DSN naming an account is
    refused (exit 1), and the target is listed without any credential."""
    refused = subprocess.run(
        [*CLI, "secret-target", "create", "pg-bad", "--type", "postgresql", "--dsn",
         "postgresql://rotator:admin-Pw-1@127.0.0.1/postgres", "--admin-secret", ADMIN_SECRET, *srv.store_args],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert refused.returncode == 1 and "admin-Pw-1" not in refused.stderr + refused.stdout
    listed = subprocess.run(
        [*CLI, "secret-target", "list", *srv.store_args],
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    ).stdout
    assert "pg-main\tpostgresql" in listed and "pg-bad" not in listed


def test_redis_secret_through_the_sdks(srv: ServerProcess, redis_made: list[str]) -> None:
    """A Redis secret on a target registered with the CLI: made through the Tea SDK, read with
    the Secrets Manager client, the ACL user logs in with it; after RotateSecret (DoubleUsers)
    the new value logs in and the value the client held still does."""
    tea = tea_client(srv.endpoint)
    user = redis_acl.make_app(redis_made, "first-Pw-1")
    tea.create_secret(
        kms.CreateSecretRequest(
            secret_name="cache/e2e",
            version_id="v1",
            secret_type="Redis",
            secret_data=json.dumps({"Accounts": [{"AccountName": user, "AccountPassword": "first-Pw-1"}]}),
            extended_config={"SecretSubType": "DoubleUsers", "InstanceId": "redis-main"},
        )
    )
    held = _official_client_value(srv.endpoint, "cache/e2e")
    assert held == {"AccountName": user, "AccountPassword": "first-Pw-1"}
    assert redis_acl.logs_in(held["AccountName"], held["AccountPassword"])
    tea.rotate_secret(kms.RotateSecretRequest(secret_name="cache/e2e", version_id="r1"))
    name, password, version = _value(tea, "cache/e2e")
    assert (name, version) == (user + "_dual", "r1") and redis_acl.logs_in(name, password)
    assert redis_acl.logs_in(held["AccountName"], held["AccountPassword"])


def _authenticates(endpoint: str, pair: dict[str, Any]) -> bool:
    """Whether a request signed with the pair is accepted (GetCallerIdentity needs no policy)."""
    try:
        sts_client(endpoint, pair["AccessKeyId"], pair["AccessKeySecret"]).get_caller_identity()
    except Exception:
        return False
    return True


def test_ram_credentials_rotate_a_users_access_keys(srv: ServerProcess) -> None:
    """RAMCredentials: SecretName $Auto names the secret acs/ram/user/<UserName>; the value is
    Alibaba's AccessKeyId/AccessKeySecret/GenerateTimestamp and signs requests; each rotation
    gives the user a new pair, the previous one working until the rotation after."""
    tea = tea_client(srv.endpoint)
    user = f"rotated-{uuid.uuid4().hex[:8]}"
    first = _user(ram_client(srv.endpoint), user)
    answer = tea.create_secret(
        kms.CreateSecretRequest(
            secret_name="$Auto",
            version_id="v1",
            secret_type="RAMCredentials",
            secret_data=json.dumps(
                {"AccessKeys": [{"AccessKeyId": first.access_key_id, "AccessKeySecret": first.secret}]}
            ),
            extended_config={"SecretSubType": "RamUserAccessKey", "UserName": user},
        )
    ).body
    name = f"acs/ram/user/{user}"
    assert (answer.secret_name, answer.secret_type) == (name, "RAMCredentials")
    held = _official_client_value(srv.endpoint, name)
    assert set(held) == {"AccessKeyId", "AccessKeySecret", "GenerateTimestamp"}
    assert (held["AccessKeyId"], held["AccessKeySecret"]) == (first.access_key_id, first.secret)
    assert _authenticates(srv.endpoint, held)

    tea.rotate_secret(kms.RotateSecretRequest(secret_name=name, version_id="r1"))
    body = tea.get_secret_value(kms.GetSecretValueRequest(secret_name=name)).body
    second = json.loads(body.secret_data)
    assert body.version_id == "r1" and second["AccessKeyId"] != first.access_key_id
    assert _authenticates(srv.endpoint, second) and _authenticates(srv.endpoint, held)

    tea.rotate_secret(kms.RotateSecretRequest(secret_name=name, version_id="r2"))
    third = json.loads(tea.get_secret_value(kms.GetSecretValueRequest(secret_name=name)).body.secret_data)
    assert _authenticates(srv.endpoint, third) and _authenticates(srv.endpoint, second)
    time.sleep(1.1)  # a pair looked up is kept for at most a second
    assert not _authenticates(srv.endpoint, held)


def test_mysql_secret_through_the_sdks(srv: ServerProcess, mysql_made: list[str]) -> None:
    """An Rds secret on a MariaDB target registered with the CLI: made through the Tea SDK, read
    with the Secrets Manager client, the account logs in with it; after RotateSecret the new value
    logs in and the old one does not (SingleUser)."""
    tea = tea_client(srv.endpoint)
    user = mysql_accounts.make_app(mysql_made, "first-Pw-1")
    tea.create_secret(
        kms.CreateSecretRequest(
            secret_name="db/my-e2e",
            version_id="v1",
            secret_type="Rds",
            secret_data=json.dumps({"Accounts": [{"AccountName": user, "AccountPassword": "first-Pw-1"}]}),
            extended_config={"SecretSubType": "SingleUser", "DBInstanceId": "my-main"},
        )
    )
    held = _official_client_value(srv.endpoint, "db/my-e2e")
    assert held == {"AccountName": user, "AccountPassword": "first-Pw-1"}
    assert mysql_accounts.reads_data(user, "first-Pw-1")
    tea.rotate_secret(kms.RotateSecretRequest(secret_name="db/my-e2e", version_id="r1"))
    name, password, version = _value(tea, "db/my-e2e")
    assert (name, version) == (user, "r1") and mysql_accounts.reads_data(name, password)
    assert not mysql_accounts.logs_in(user, "first-Pw-1")


def test_update_secret_custom_data_through_both_sdks(srv: ServerProcess, cluster: Cluster) -> None:
    """UpdateSecret's ExtendedConfig on a managed secret, in each SDK's form (the Tea SDK's
    flattened CustomData.<key>, the old SDK's CustomData JSON), replaces its CustomData;
    DescribeSecret and GetSecretValue (FetchExtendedConfig) show it, its target and mode kept.
    More than 10 pairs is 400 InvalidParameter."""
    tea = tea_client(srv.endpoint)
    secret = "db/custom"
    _create(tea, secret, *_app(cluster), "SingleUser")
    tea.update_secret(
        kms.UpdateSecretRequest(
            secret_name=secret,
            extended_config=kms.UpdateSecretRequestExtendedConfig(custom_data={"team": "pay", "tier": "1"}),
        )
    )
    described = tea.describe_secret(kms.DescribeSecretRequest(secret_name=secret)).body
    assert json.loads(described.extended_config) == {
        "SecretSubType": "SingleUser",
        "DBInstanceId": "pg-main",
        "CustomData": {"team": "pay", "tier": "1"},
    }
    old = SDK("old", srv.endpoint)
    old.call("UpdateSecret", SecretName=secret, ExtendedConfigCustomData={"owner": "ops"})
    fetched = tea.get_secret_value(
        kms.GetSecretValueRequest(secret_name=secret, fetch_extended_config=True)
    ).body.extended_config
    assert json.loads(fetched)["CustomData"] == {"owner": "ops"}
    assert json.loads(fetched)["DBInstanceId"] == "pg-main"
    too_many = {str(i): "v" for i in range(11)}
    refused = old.error("UpdateSecret", SecretName=secret, ExtendedConfigCustomData=too_many)
    assert (refused.status, refused.code) == (400, "InvalidParameter")


def test_rotate_secret_is_limited_to_50_an_hour_per_account(
    request: pytest.FixtureRequest, srv: ServerProcess, redis_made: list[str]
) -> None:
    """An account's RotateSecret calls start at most 50 rotations an hour: the 51st is 400
    Rejected.LimitExceeded through either SDK and starts nothing, while a VersionId the secret
    has is still answered. Counted per account: another account rotates on. (The count is kept
    in the database; tests/unit/service/test_secret_rotation.py shows two nodes sharing it.)"""
    uid, ak, sk = srv.new_account("limited")
    tea = tea_client(srv.endpoint, ak=ak, secret=sk)
    admin = redis_acl.make_admin(redis_made, "adm-Pw-1")
    tea.create_secret(
        kms.CreateSecretRequest(
            secret_name="admin/redis",
            version_id="v1",
            secret_data=json.dumps({"AccountName": admin, "AccountPassword": "adm-Pw-1"}),
        )
    )
    subprocess.run(
        [*CLI, "secret-target", "create", "redis-limited", "--type", "redis", "--dsn", redis_acl.DSN,
         "--admin-secret", "admin/redis", "--account", uid, *srv.store_args],
        check=True, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    user = redis_acl.make_app(redis_made, "first-Pw-1")
    tea.create_secret(
        kms.CreateSecretRequest(
            secret_name="cache/limited",
            version_id="v1",
            secret_type="Redis",
            secret_data=json.dumps({"Accounts": [{"AccountName": user, "AccountPassword": "first-Pw-1"}]}),
            extended_config={"SecretSubType": "DoubleUsers", "InstanceId": "redis-limited"},
        )
    )
    for i in range(50):
        tea.rotate_secret(kms.RotateSecretRequest(secret_name="cache/limited", version_id=f"r{i}"))
    refused = SDK("tea", srv.endpoint, ak, sk).error(
        "RotateSecret", SecretName="cache/limited", VersionId="r50"
    )
    assert (refused.status, refused.code) == (400, "Rejected.LimitExceeded")
    refused = SDK("old", srv.endpoint, ak, sk).error(
        "RotateSecret", SecretName="cache/limited", VersionId="r50"
    )
    assert (refused.status, refused.code) == (400, "Rejected.LimitExceeded")
    again = tea.rotate_secret(kms.RotateSecretRequest(secret_name="cache/limited", version_id="r49")).body
    assert again.version_id == "r49"
    name, password, version = _value(tea, "cache/limited")
    assert version == "r49" and redis_acl.logs_in(name, password)
    other = _managed(request, srv, "redis", "SingleUser", "cache/other-account")
    tea_client(srv.endpoint).rotate_secret(kms.RotateSecretRequest(secret_name=other.name, version_id="r1"))
    assert _read(tea_client(srv.endpoint), other.name)[1] == "r1"


def test_scheduled_rotation_of_each_target(request: pytest.FixtureRequest, srv: ServerProcess) -> None:
    """Automatic rotation every 6 h, made through the Tea SDK for each target: the rotate-secrets
    job (run over the stopped server's data with the clock 6 h on: the server's own clock cannot
    be moved) rotates each; the restarted server answers the new values, which log in (sign), and
    the Secrets Manager client reads them; NextRotationDate moves on."""
    cases = [
        ("postgresql", "DoubleUsers"),
        ("mysql", "SingleUser"),
        ("redis", "DoubleUsers"),
        ("ram", "RamUserAccessKey"),
    ]
    made = [
        _managed(request, srv, target, sub_type, f"sched/{target}", enable_automatic_rotation=True,
                 rotation_interval="6h")
        for target, sub_type in cases
    ]  # fmt: skip
    tea = tea_client(srv.endpoint)
    before = {m.name: tea.describe_secret(kms.DescribeSecretRequest(secret_name=m.name)).body for m in made}
    assert all(b.automatic_rotation == "Enabled" and b.next_rotation_date for b in before.values())
    srv.stop()
    assert "rotate-secrets" in run_jobs_offline(srv.data_dir, srv.database, advance=6 * 3600 + 60)
    tea = _restart(srv, "")
    for secret in made:
        value, version = _read(tea, secret.name)
        assert version != "v1" and value != secret.first and secret.works(value), secret.name
        assert _official_client_value(srv.endpoint, secret.name) == value
        after = tea.describe_secret(kms.DescribeSecretRequest(secret_name=secret.name)).body
        assert after.last_rotation_date and after.next_rotation_date > before[secret.name].next_rotation_date


def _audit_events(srv: ServerProcess, name: str) -> list[str]:
    """The names of the events `openkms audit export` lists for the secret ``name``."""
    out = subprocess.run(
        [*CLI, "audit", "export", *srv.store_args], check=True, capture_output=True, text=True, timeout=120
    ).stdout
    events = [json.loads(line)["event"] for line in out.splitlines()]
    return [e["eventName"] for e in events if name in json.dumps(e.get("resources", e))]


def test_a_target_that_is_down_leaves_the_secret_readable(srv: ServerProcess, cluster: Cluster) -> None:
    """The PostgreSQL target behind a proxy that refuses connections: RotateSecret answers (the
    rotation is recorded, as Alibaba's asynchronous rotation), the secret reads its working value,
    DescribeSecret (the old SDK keeps openkms's RotationStatus) shows the step, the attempts,
    the error and the next attempt 30 s then 60 s on, and `openkms audit export` lists each
    RotateSecretFailed. With the target back, the next call finishes that rotation, then its own."""
    with TcpProxy(upstream_port=cluster.port) as proxy:
        proxy_dsn = f"postgresql://127.0.0.1:{proxy.port}/postgres"
        _register(srv, "pg-proxied", "postgresql", proxy_dsn, ADMIN_SECRET)
        tea = tea_client(srv.endpoint)
        account, first = _app(cluster)
        tea.create_secret(
            kms.CreateSecretRequest(
                secret_name="db/down",
                version_id="v1",
                secret_type="Rds",
                secret_data=json.dumps({"Accounts": [{"AccountName": account, "AccountPassword": first}]}),
                extended_config={"SecretSubType": "SingleUser", "DBInstanceId": "pg-proxied"},
            )
        )
        proxy.close()
        old = SDK("old", srv.endpoint)
        for attempt, backoff in ((1, 30), (2, 60)):
            asked = time.time()
            answer = tea.rotate_secret(kms.RotateSecretRequest(secret_name="db/down", version_id="r1")).body
            assert answer.version_id == "r1"
            name, password, version = _value(tea, "db/down")
            assert version == "v1" and cluster.reads_data(name, password, account)
            status = old.call("DescribeSecret", SecretName="db/down")["RotationStatus"]
            assert (status["VersionId"], status["Step"], status["Attempts"]) == ("r1", "pending", attempt)
            assert (
                status["LastError"].startswith("TargetError: PostgreSQL") and first not in status["LastError"]
            )
            due = datetime.fromisoformat(status["NextAttemptTime"].replace("Z", "+00:00")).timestamp()
            assert asked + backoff - 1 <= due <= time.time() + backoff + 1  # whatever the load
        assert _audit_events(srv, "db/down").count("RotateSecretFailed") == 2

        proxy.open()
        answer = tea.rotate_secret(kms.RotateSecretRequest(secret_name="db/down", version_id="r2")).body
        assert answer.version_id == "r2"  # r1 finished first, then r2 ran
        name, password, version = _value(tea, "db/down")
        assert version == "r2" and cluster.reads_data(name, password, account)
        assert _value(tea, "db/down", "ACSPrevious")[2] == "r1"
        assert "RotationStatus" not in old.call("DescribeSecret", SecretName="db/down")
        assert "RotateSecret" in _audit_events(srv, "db/down")
