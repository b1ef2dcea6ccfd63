"""Managed database secrets rotating on PostgreSQL, at the service level on a FixedClock: the
actions through their tables (as a request would call them), the schedule through the job runner
with a moved clock, a target that is down, and a step interrupted at each point.

The target is a private PostgreSQL cluster that checks passwords (tests/support/pg_password.py).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from openkms.api import REGISTRY
from openkms.domain.clock import iso
from openkms.domain.errors import LimitExceeded
from openkms.domain.rotation import (
    PENDING,
    ROTATIONS_PER_HOUR,
    STEP_APPLIED,
    STEP_PENDING,
    STEP_VERIFIED,
    backoff,
)
from openkms.jobs import build_runner
from openkms.rootkey.keyring import access_key_aad
from openkms.service.context import CallContext
from openkms.service.rotation_targets import Driver, TargetError, driver_for
from openkms.service.tenancy import root_scope
from openkms.store import access_keys as pair_repo
from openkms.store import rotation as rotation_repo
from openkms.wire import errors as wire
from tests.support import mysql_accounts, redis_acl
from tests.support.inprocess import START, World, open_world
from tests.support.pg_password import Cluster, password_cluster
from tests.support.postgres import PostgresDatabase

HOUR = 3600.0


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    with password_cluster() as c:
        c.make_admin("rotator", "admin-Pw-1")
        yield c


def act(world: World, action: str, **params: object) -> dict[str, Any]:
    """Call an action's handler as the server does: its table binds the parameters."""
    spec = REGISTRY[("2016-01-20", action)]
    raw = {
        k: (
            json.dumps(v)
            if isinstance(v, (dict, list))
            else str(v).lower()
            if isinstance(v, bool)
            else str(v)
        )
        for k, v in params.items()
    }
    ctx = CallContext(world.services, root_scope(world.dep.account_id, action))
    return spec.handler(ctx, **spec.bind(raw))  # type: ignore[no-any-return]


def _target(world: World, cluster: Cluster, name: str = "pg1") -> None:
    act(
        world,
        "CreateSecret",
        SecretName=f"admin-{name}",
        VersionId="v1",
        SecretData=json.dumps({"AccountName": "rotator", "AccountPassword": "admin-Pw-1"}),
    )
    world.services.rotation.create_target(
        world.dep.account_id, name, "postgresql", cluster.dsn, f"admin-{name}"
    )


def _app(cluster: Cluster) -> tuple[str, str]:
    name, password = f"app_{uuid.uuid4().hex[:8]}", "first-Pw-1"
    cluster.make_app(name, password)
    return name, password


def _create(
    world: World, name: str, account: str, password: str, sub_type: str = "SingleUser", **extra: object
) -> None:
    act(
        world,
        "CreateSecret",
        SecretName=name,
        VersionId="v1",
        SecretType="Rds",
        SecretData=json.dumps({"Accounts": [{"AccountName": account, "AccountPassword": password}]}),
        ExtendedConfig=json.dumps({"SecretSubType": sub_type, "DBInstanceId": "pg1", "CustomData": {}}),
        **extra,
    )


def _value(world: World, name: str, stage: str = "ACSCurrent") -> tuple[str, str, dict[str, Any]]:
    answer = act(world, "GetSecretValue", SecretName=name, VersionStage=stage)
    value = json.loads(answer["SecretData"])
    return value["AccountName"], value["AccountPassword"], answer


class TestSingleUser:
    def test_create_read_rotate_and_log_in(self, world: World, cluster: Cluster) -> None:
        """An Rds SingleUser secret answers Alibaba's value shape; RotateSecret changes the
        account's password in place: the new value logs in, the old one no longer does."""
        _target(world, cluster)
        account, first = _app(cluster)
        _create(world, "db/single", account, first)
        name, password, answer = _value(world, "db/single")
        assert (name, password, answer["SecretType"]) == (account, first, "Rds")
        assert cluster.reads_data(name, password, account)

        rotated = act(world, "RotateSecret", SecretName="db/single", VersionId="r1")
        assert (rotated["SecretName"], rotated["VersionId"]) == ("db/single", "r1")
        name2, password2, answer2 = _value(world, "db/single")
        assert (name2, answer2["VersionId"], answer2["VersionStages"]["VersionStage"]) == (
            account,
            "r1",
            ["ACSCurrent"],
        )
        assert password2 != first and len(password2) == 32
        assert cluster.reads_data(name2, password2, account)
        assert not cluster.logs_in(account, first)
        previous = _value(world, "db/single", "ACSPrevious")[2]
        assert previous["VersionId"] == "v1"

    def test_rotate_with_a_version_it_has_starts_nothing(self, world: World, cluster: Cluster) -> None:
        """RotateSecret's VersionId is an idempotency token: one the secret has rotates nothing."""
        _target(world, cluster)
        account, first = _app(cluster)
        _create(world, "db/idem", account, first)
        act(world, "RotateSecret", SecretName="db/idem", VersionId="r1")
        password = _value(world, "db/idem")[1]
        act(world, "RotateSecret", SecretName="db/idem", VersionId="r1")
        assert password == _value(world, "db/idem")[1]

    def test_generic_secrets_keep_alibabas_rules(self, world: World, cluster: Cluster) -> None:
        """RotateSecret on a Generic secret is Rejected.UnsupportedOperation; PutSecretValue on
        a managed one is refused the same way (its value changes only by rotation)."""
        act(world, "CreateSecret", SecretName="plain", VersionId="v1", SecretData="x")
        with pytest.raises(Exception) as refused:
            act(world, "RotateSecret", SecretName="plain", VersionId="v2")
        assert type(refused.value).__name__ == "UnsupportedOperation"
        _target(world, cluster)
        account, first = _app(cluster)
        _create(world, "db/managed", account, first)
        for action, extra in (
            ("PutSecretValue", {"VersionId": "v2", "SecretData": "x"}),
            ("UpdateSecretVersionStage", {"VersionStage": "ACSCurrent", "MoveToVersion": "v1"}),
        ):
            with pytest.raises(Exception) as managed:
                act(world, action, SecretName="db/managed", **extra)
            assert type(managed.value).__name__ == "UnsupportedOperation"


class TestDoubleUsers:
    def test_previous_credential_keeps_working_through_one_rotation(
        self, world: World, cluster: Cluster
    ) -> None:
        """DoubleUsers: the first rotation makes the second account (with the first's
        privileges); each rotation changes the account ACSCurrent does not hold, so a client
        holding the previous value logs in until the rotation after."""
        _target(world, cluster)
        account, first = _app(cluster)
        _create(world, "db/double", account, first, "DoubleUsers")

        act(world, "RotateSecret", SecretName="db/double", VersionId="r1")
        name1, password1, _ = _value(world, "db/double")
        assert name1 == account + "_dual"
        assert cluster.reads_data(name1, password1, account)
        assert cluster.reads_data(account, first, account)  # the previous value still works

        act(world, "RotateSecret", SecretName="db/double", VersionId="r2")
        name2, password2, _ = _value(world, "db/double")
        assert (name2, _value(world, "db/double", "ACSPrevious")[0]) == (account, account + "_dual")
        assert cluster.reads_data(name2, password2, account)
        assert cluster.reads_data(name1, password1, account)  # held through one rotation
        assert not cluster.logs_in(account, first)  # two rotations back: gone


class TestSchedule:
    def test_the_job_rotates_at_the_interval_and_reports_it(self, world: World, cluster: Cluster) -> None:
        """With automatic rotation every 6 h, the job does nothing before and rotates after,
        reporting RotateSecret to the audit trail; UpdateSecretRotationPolicy turns it off."""
        _target(world, cluster)
        account, first = _app(cluster)
        _create(world, "db/sched", account, first, EnableAutomaticRotation=True, RotationInterval="6h")
        described = act(world, "DescribeSecret", SecretName="db/sched")
        assert (described["AutomaticRotation"], described["RotationInterval"]) == ("Enabled", "21600s")
        reported: list[tuple[str, str, dict[str, list[str]]]] = []
        world.services.audit.system = lambda n, a, r, **d: reported.append((n, a, r))  # type: ignore[method-assign]

        runner = build_runner(world.services, holder="node-a")
        runner.tick()
        assert _value(world, "db/sched")[1] == first
        world.clock.advance(6 * HOUR)
        for entry in runner._jobs.values():
            entry.next_due = float("-inf")
        assert "rotate-secrets" in runner.tick()
        name, password, _ = _value(world, "db/sched")
        assert password != first and cluster.logs_in(name, password)
        assert ("RotateSecret", world.dep.account_id, {"ACS::KMS::Secret": ["db/sched"]}) in reported
        after = act(world, "DescribeSecret", SecretName="db/sched")
        assert after["NextRotationDate"] != described["NextRotationDate"]

        act(world, "UpdateSecretRotationPolicy", SecretName="db/sched", EnableAutomaticRotation=False)
        assert act(world, "DescribeSecret", SecretName="db/sched")["AutomaticRotation"] == "Disabled"
        world.clock.advance(7 * HOUR)
        for entry in runner._jobs.values():
            entry.next_due = float("-inf")
        runner.tick()
        assert _value(world, "db/sched")[1] == password


class _Flaky:
    """A driver whose target is down until ``up`` is set."""

    def __init__(self, real: Driver) -> None:
        self.real = real
        self.up = False

    def set_password(self, admin: Any, account: str, password: str, *, like: str) -> None:
        if not self.up:
            raise TargetError("PostgreSQL: connection refused")
        self.real.set_password(admin, account, password, like=like)

    def verify(self, account: str, password: str) -> None:
        self.real.verify(account, password)


class TestTargetDown:
    def test_a_down_target_is_retried_with_backoff_and_shown(self, world: World, cluster: Cluster) -> None:
        """RotateSecret while the target is down: the rotation is kept at its step, ACSCurrent
        still logs in, DescribeSecret shows the attempt and error, the job retries after the
        backoff and completes once the target is back."""
        _target(world, cluster)
        account, first = _app(cluster)
        _create(world, "db/down", account, first)
        flaky = _Flaky(driver_for("postgresql", cluster.dsn))
        world.services.rotation.driver_for = lambda kind, dsn: flaky  # type: ignore[method-assign]

        act(world, "RotateSecret", SecretName="db/down", VersionId="r1")
        name, password, answer = _value(world, "db/down")
        assert (answer["VersionId"], password) == ("v1", first) and cluster.logs_in(name, password)
        status = act(world, "DescribeSecret", SecretName="db/down")["RotationStatus"]
        assert (status["VersionId"], status["Step"], status["Attempts"]) == ("r1", STEP_PENDING, 1)
        assert "connection refused" in status["LastError"]
        again = act(world, "RotateSecret", SecretName="db/down", VersionId="r2")
        assert again["VersionId"] == "r1"  # the rotation in flight; none other starts
        status = act(world, "DescribeSecret", SecretName="db/down")["RotationStatus"]
        assert (status["VersionId"], status["Attempts"]) == ("r1", 2)
        stages = act(world, "ListSecretVersionIds", SecretName="db/down")["VersionIds"]["VersionId"]
        assert {v["VersionId"]: v["VersionStages"]["VersionStage"] for v in stages}["r1"] == [PENDING]

        runner = build_runner(world.services, holder="node-a")
        world.clock.advance(backoff(2) - 1)
        runner.tick()  # not due yet: still two attempts
        assert act(world, "DescribeSecret", SecretName="db/down")["RotationStatus"]["Attempts"] == 2
        world.clock.advance(2)
        for entry in runner._jobs.values():
            entry.next_due = float("-inf")
        runner.tick()
        assert act(world, "DescribeSecret", SecretName="db/down")["RotationStatus"]["Attempts"] == 3

        flaky.up = True
        world.clock.advance(backoff(3))
        for entry in runner._jobs.values():
            entry.next_due = float("-inf")
        runner.tick()
        assert "RotationStatus" not in act(world, "DescribeSecret", SecretName="db/down")
        name, password, answer = _value(world, "db/down")
        assert answer["VersionId"] == "r1" and cluster.logs_in(name, password)


def _cut_after(world: World, name: str, step: str) -> None:
    """Start a rotation of ``name`` and stop it right after it records ``step``, as a process
    killed there would."""
    rotation = world.services.rotation
    rotation.start(world.dep.account_id, name, "r1", lambda tx: None)
    if step != STEP_PENDING:
        real = rotation._advance

        def stop_after(rot: Any, to: str, fence: Any) -> None:
            real(rot, to, fence)
            if to == step:
                raise KeyboardInterrupt  # the process ends here

        rotation._advance = stop_after  # type: ignore[method-assign]
        try:
            with pytest.raises(KeyboardInterrupt):
                rotation.finish(world.dep.account_id, name, lambda tx: None)
        finally:
            del rotation._advance
    left = rotation_repo.get_rotation(world.dep.db, world.dep.account_id, name)
    assert left is not None and left.step == step


def _resumed(world: World, name: str) -> dict[str, Any]:
    """Run the jobs once (another process); the secret's ACSCurrent value, which must be r1's."""
    build_runner(world.services, holder="node-b").tick()
    assert rotation_repo.get_rotation(world.dep.db, world.dep.account_id, name) is None
    answer = act(world, "GetSecretValue", SecretName=name)
    assert answer["VersionId"] == "r1"
    return json.loads(answer["SecretData"])  # type: ignore[no-any-return]


def _pair_authenticates(world: World, value: dict[str, Any]) -> bool:
    """Whether the pair is stored, Active and holds that secret (what a signature check reads)."""
    pair = pair_repo.get(world.dep.db, value["AccessKeyId"])
    if pair is None or pair.status != "Active":
        return False
    aad = access_key_aad(pair.access_key_id, pair.kek_version)
    return (
        world.dep.keyring.unwrap(pair.kek_version, pair.secret_wrapped, aad)
        == value["AccessKeySecret"].encode()
    )


STEPS_TO_CUT = [STEP_PENDING, STEP_APPLIED, STEP_VERIFIED]


class TestInterrupted:
    @pytest.mark.parametrize("step", STEPS_TO_CUT)
    @pytest.mark.parametrize("sub_type", ["SingleUser", "DoubleUsers"])
    def test_postgresql_rotation_left_at_any_step_is_finished(
        self, world: World, cluster: Cluster, step: str, sub_type: str
    ) -> None:
        """A PostgreSQL rotation stopped right after recording ``step`` is carried to its end by
        the next job run; in DoubleUsers ACSCurrent logs in throughout."""
        _target(world, cluster)
        account, first = _app(cluster)
        _create(world, "db/cut", account, first, sub_type)
        _cut_after(world, "db/cut", step)
        if sub_type == "DoubleUsers":
            assert cluster.logs_in(*_value(world, "db/cut")[:2])
        value = _resumed(world, "db/cut")
        assert cluster.reads_data(value["AccountName"], value["AccountPassword"], account)

    @pytest.mark.parametrize("step", STEPS_TO_CUT)
    @pytest.mark.parametrize("sub_type", ["SingleUser", "DoubleUsers"])
    def test_redis_rotation_left_at_any_step_is_finished(
        self, world: World, step: str, sub_type: str
    ) -> None:
        """The same for a Redis ACL user."""
        with redis_acl.acl_users() as made:
            admin = redis_acl.make_admin(made, "adm-Pw-1")
            user = redis_acl.make_app(made, "first-Pw-1")
            act(world, "CreateSecret", SecretName="admin-redis", VersionId="v1",
                SecretData=json.dumps({"AccountName": admin, "AccountPassword": "adm-Pw-1"}))  # fmt: skip
            world.services.rotation.create_target(
                world.dep.account_id, "r1", "redis", redis_acl.DSN, "admin-redis"
            )
            act(world, "CreateSecret", SecretName="cache/cut", VersionId="v1", SecretType="Redis",
                SecretData=json.dumps({"Accounts": [{"AccountName": user, "AccountPassword": "first-Pw-1"}]}),
                ExtendedConfig=json.dumps({"SecretSubType": sub_type, "InstanceId": "r1"}))  # fmt: skip
            _cut_after(world, "cache/cut", step)
            if sub_type == "DoubleUsers":
                assert redis_acl.logs_in(*_value(world, "cache/cut")[:2])
            value = _resumed(world, "cache/cut")
            assert redis_acl.logs_in(value["AccountName"], value["AccountPassword"])

    @pytest.mark.parametrize("step", STEPS_TO_CUT)
    def test_mysql_rotation_left_at_any_step_is_finished(self, world: World, step: str) -> None:
        """The same for a MariaDB account in DoubleUsers mode."""
        with mysql_accounts.accounts() as made:
            admin = mysql_accounts.make_admin(made, "adm-Pw-1")
            user = mysql_accounts.make_app(made, "first-Pw-1")
            act(world, "CreateSecret", SecretName="admin-my", VersionId="v1",
                SecretData=json.dumps({"AccountName": admin, "AccountPassword": "adm-Pw-1"}))  # fmt: skip
            world.services.rotation.create_target(
                world.dep.account_id, "my1", "mysql", mysql_accounts.DSN, "admin-my"
            )
            act(world, "CreateSecret", SecretName="db/my-cut", VersionId="v1", SecretType="Rds",
                SecretData=json.dumps({"Accounts": [{"AccountName": user, "AccountPassword": "first-Pw-1"}]}),
                ExtendedConfig=json.dumps({"SecretSubType": "DoubleUsers", "DBInstanceId": "my1"}))  # fmt: skip
            _cut_after(world, "db/my-cut", step)
            assert mysql_accounts.reads_data(*_value(world, "db/my-cut")[:2])
            value = _resumed(world, "db/my-cut")
            assert mysql_accounts.reads_data(value["AccountName"], value["AccountPassword"])

    @pytest.mark.parametrize("step", STEPS_TO_CUT)
    def test_ram_rotation_left_at_any_step_is_finished(self, world: World, step: str) -> None:
        """The same for a RAM user's AccessKeys: ACSCurrent's pair authenticates throughout."""
        account = world.dep.account_id
        world.services.ram.create_user(account, "app-user", "", "")
        made = world.services.ram.create_access_key(account, "app-user")
        assert made.secret is not None
        pair = {"AccessKeyId": made.access_key_id, "AccessKeySecret": made.secret.reveal()}
        act(world, "CreateSecret", SecretName="$Auto", VersionId="v1", SecretType="RAMCredentials",
            SecretData=json.dumps({"AccessKeys": [pair]}),
            ExtendedConfig=json.dumps({"SecretSubType": "RamUserAccessKey", "UserName": "app-user"}))  # fmt: skip
        name = "acs/ram/user/app-user"
        _cut_after(world, name, step)
        assert _pair_authenticates(
            world, json.loads(act(world, "GetSecretValue", SecretName=name)["SecretData"])
        )
        value = _resumed(world, name)
        assert value["AccessKeyId"] != made.access_key_id and _pair_authenticates(world, value)
        assert _pair_authenticates(world, pair)  # the previous pair works until the next rotation


class TestRefusals:
    def test_bad_extended_config_and_targets(self, world: World, cluster: Cluster) -> None:
        """A managed secret names a registered target of its kind in ExtendedConfig (a
        RAMCredentials secret, an existing RAM user, and it is named $Auto); ECS is not rotated
        here; a DSN carrying an account is refused."""
        _target(world, cluster)
        data = json.dumps({"Accounts": [{"AccountName": "app", "AccountPassword": "p"}]})
        for config in (
            None,
            "{}",
            '{"SecretSubType":"SingleUser"}',
            '{"SecretSubType":"Triple","DBInstanceId":"pg1"}',
            '{"SecretSubType":"SingleUser","DBInstanceId":"nope"}',
        ):
            extra = {"ExtendedConfig": config} if config is not None else {}
            with pytest.raises(Exception) as refused:
                act(
                    world,
                    "CreateSecret",
                    SecretName="db/bad",
                    VersionId="v1",
                    SecretType="Rds",
                    SecretData=data,
                    **extra,
                )
            assert type(refused.value).__name__ == "InvalidValue"
        with pytest.raises(Exception) as redis_on_pg:
            act(
                world,
                "CreateSecret",
                SecretName="db/bad",
                VersionId="v1",
                SecretType="Redis",
                SecretData=data,
                ExtendedConfig='{"SecretSubType":"SingleUser","InstanceId":"pg1"}',
            )
        assert type(redis_on_pg.value).__name__ == "InvalidValue"
        ram_config = json.dumps({"SecretSubType": "RamUserAccessKey", "UserName": "nobody"})
        with pytest.raises(wire.InvalidParameter):  # a RAMCredentials secret is named $Auto
            act(world, "CreateSecret", SecretName="named", VersionId="v1", SecretType="RAMCredentials",
                SecretData=data, ExtendedConfig=ram_config)  # fmt: skip
        with pytest.raises(Exception) as no_user:
            act(world, "CreateSecret", SecretName="$Auto", VersionId="v1", SecretType="RAMCredentials",
                SecretData=data, ExtendedConfig=ram_config)  # fmt: skip
        assert type(no_user.value).__name__ == "InvalidValue"
        for secret_type in ("ECS",):
            with pytest.raises(wire.UnsupportedOperation):
                act(
                    world,
                    "CreateSecret",
                    SecretName="db/bad",
                    VersionId="v1",
                    SecretType=secret_type,
                    SecretData=data,
                )
        with pytest.raises(Exception) as with_account:
            world.services.rotation.create_target(
                world.dep.account_id,
                "pg2",
                "postgresql",
                "postgresql://rotator:pw@127.0.0.1/postgres",
                "admin-pg1",
            )
        assert type(with_account.value).__name__ == "InvalidValue"


class TestRedis:
    @pytest.mark.parametrize("sub_type", ["SingleUser", "DoubleUsers"])
    def test_redis_acl_user_rotates(self, world: World, sub_type: str) -> None:
        """A Redis secret rotates an ACL user through an admin allowed only ACL SETUSER, USERS
        and LIST: SingleUser resets the password in place; DoubleUsers makes the second user
        with the first's rules and alternates, the previous value working through one rotation."""
        with redis_acl.acl_users() as made:
            admin = redis_acl.make_admin(made, "adm-Pw-1")
            user = redis_acl.make_app(made, "first-Pw-1")
            act(world, "CreateSecret", SecretName="admin-redis", VersionId="v1",
                SecretData=json.dumps({"AccountName": admin, "AccountPassword": "adm-Pw-1"}))  # fmt: skip
            world.services.rotation.create_target(
                world.dep.account_id, "r1", "redis", redis_acl.DSN, "admin-redis"
            )
            act(world, "CreateSecret", SecretName="cache", VersionId="v1", SecretType="Redis",
                SecretData=json.dumps({"Accounts": [{"AccountName": user, "AccountPassword": "first-Pw-1"}]}),
                ExtendedConfig=json.dumps({"SecretSubType": sub_type, "InstanceId": "r1"}))  # fmt: skip
            assert redis_acl.logs_in(*_value(world, "cache")[:2])

            act(world, "RotateSecret", SecretName="cache", VersionId="r1")
            name1, password1, answer = _value(world, "cache")
            assert answer["VersionId"] == "r1" and redis_acl.logs_in(name1, password1)
            if sub_type == "SingleUser":
                assert name1 == user and not redis_acl.logs_in(user, "first-Pw-1")
                return
            assert name1 == user + "_dual" and redis_acl.logs_in(user, "first-Pw-1")
            act(world, "RotateSecret", SecretName="cache", VersionId="r2")
            name2, password2, _ = _value(world, "cache")
            assert name2 == user and redis_acl.logs_in(name2, password2)
            assert redis_acl.logs_in(name1, password1)
            assert not redis_acl.logs_in(user, "first-Pw-1")


class TestMySQL:
    @pytest.mark.parametrize("sub_type", ["SingleUser", "DoubleUsers"])
    def test_mariadb_account_rotates(self, world: World, sub_type: str) -> None:
        """An Rds secret on a MySQL/MariaDB target, through an admin with CREATE USER, SELECT on
        the grant tables and the application's privileges WITH GRANT OPTION: SingleUser alters
        the password in place; DoubleUsers makes the second account with the first's grants and
        alternates, the previous value working through one rotation."""
        with mysql_accounts.accounts() as made:
            admin = mysql_accounts.make_admin(made, "adm-Pw-1")
            user = mysql_accounts.make_app(made, "first-Pw-1")
            act(world, "CreateSecret", SecretName="admin-my", VersionId="v1",
                SecretData=json.dumps({"AccountName": admin, "AccountPassword": "adm-Pw-1"}))  # fmt: skip
            world.services.rotation.create_target(
                world.dep.account_id, "my1", "mysql", mysql_accounts.DSN, "admin-my"
            )
            act(world, "CreateSecret", SecretName="db/my", VersionId="v1", SecretType="Rds",
                SecretData=json.dumps({"Accounts": [{"AccountName": user, "AccountPassword": "first-Pw-1"}]}),
                ExtendedConfig=json.dumps({"SecretSubType": sub_type, "DBInstanceId": "my1"}))  # fmt: skip
            assert mysql_accounts.reads_data(*_value(world, "db/my")[:2])

            act(world, "RotateSecret", SecretName="db/my", VersionId="r1")
            name1, password1, answer = _value(world, "db/my")
            assert answer["VersionId"] == "r1" and mysql_accounts.reads_data(name1, password1)
            if sub_type == "SingleUser":
                assert name1 == user and not mysql_accounts.logs_in(user, "first-Pw-1")
                return
            assert name1 == user + "_dual" and mysql_accounts.reads_data(user, "first-Pw-1")
            act(world, "RotateSecret", SecretName="db/my", VersionId="r2")
            name2, password2, _ = _value(world, "db/my")
            assert name2 == user and mysql_accounts.reads_data(name2, password2)
            assert mysql_accounts.reads_data(name1, password1)
            assert not mysql_accounts.logs_in(user, "first-Pw-1")


class _Quoting:
    """A driver whose server quotes the statement it refused, password and all."""

    def set_password(self, admin: Any, account: str, password: str, *, like: str) -> None:
        raise TargetError(f"syntax error near 'IDENTIFIED BY {password}' (admin {admin.password})")

    def verify(self, account: str, password: str) -> None:
        raise TargetError(f"refused {password}")


def test_errors_kept_and_shown_never_carry_a_password(world: World, cluster: Cluster) -> None:
    """A target's error that quotes the new or the admin password is kept and shown with both
    replaced."""
    _target(world, cluster)
    account, first = _app(cluster)
    _create(world, "db/quote", account, first)
    import openkms.service.rotation_targets as targets

    world.services.rotation.driver_for = lambda kind, dsn: targets._Redacting(_Quoting())  # type: ignore[method-assign]
    act(world, "RotateSecret", SecretName="db/quote", VersionId="r1")
    error = act(world, "DescribeSecret", SecretName="db/quote")["RotationStatus"]["LastError"]
    pending = json.loads(
        act(world, "GetSecretValue", SecretName="db/quote", VersionStage=PENDING)["SecretData"]
    )
    assert pending["AccountPassword"] not in error and "admin-Pw-1" not in error
    assert error.count("[redacted]") == 2


def test_a_target_in_use_is_not_deleted(world: World, cluster: Cluster) -> None:
    """`secret-target delete` refuses a target a managed secret names, and an unknown one; once
    the secret is gone the target goes."""
    _target(world, cluster)
    account, first = _app(cluster)
    _create(world, "db/uses", account, first)
    rotation, uid = world.services.rotation, world.dep.account_id
    with pytest.raises(Exception) as in_use:
        rotation.delete_target(uid, "pg1")
    assert type(in_use.value).__name__ == "StateTransitionRefused"
    with pytest.raises(Exception) as unknown:
        rotation.delete_target(uid, "nope")
    assert type(unknown.value).__name__ == "ResourceNotFound"
    act(world, "DeleteSecret", SecretName="db/uses", ForceDeleteWithoutRecovery=True)
    rotation.delete_target(uid, "pg1")
    assert [t.name for t in rotation.list_targets(uid)] == []


def test_polardb_names_its_cluster_and_the_policy_sets_the_schedule(world: World, cluster: Cluster) -> None:
    """A PolarDB secret names its target as DBClusterId and rotates the same way; turning
    automatic rotation on counts the interval from the last rotation, and the job honours it."""
    _target(world, cluster)
    account, first = _app(cluster)
    act(world, "CreateSecret", SecretName="db/polar", VersionId="v1", SecretType="PolarDB",
        SecretData=json.dumps({"Accounts": [{"AccountName": account, "AccountPassword": first}]}),
        ExtendedConfig=json.dumps({"SecretSubType": "SingleUser", "DBClusterId": "pg1"}))  # fmt: skip
    described = act(world, "DescribeSecret", SecretName="db/polar")
    assert (described["AutomaticRotation"], described["NextRotationDate"]) == ("Disabled", "")
    world.clock.advance(HOUR)
    act(
        world,
        "UpdateSecretRotationPolicy",
        SecretName="db/polar",
        EnableAutomaticRotation=True,
        RotationInterval="7d",
    )
    enabled = act(world, "DescribeSecret", SecretName="db/polar")
    assert (enabled["AutomaticRotation"], enabled["RotationInterval"]) == ("Enabled", "604800s")
    assert enabled["NextRotationDate"] == iso(START + 7 * 86400)  # from the creation, the last rotation
    runner = build_runner(world.services, holder="node-a")
    world.clock.advance(7 * 86400 - HOUR - 1)
    runner.tick()
    assert _value(world, "db/polar")[1] == first
    world.clock.advance(1)
    for entry in runner._jobs.values():
        entry.next_due = float("-inf")
    runner.tick()
    name, password, _ = _value(world, "db/polar")
    assert password != first and cluster.reads_data(name, password, account)


def test_rotation_on_a_postgresql_deployment(tmp_path: Path, cluster: Cluster) -> None:
    """The rotation tables and their locking work on openkms's PostgreSQL backend too: a
    DoubleUsers secret rotates twice through the job and RotateSecret, one rotation interrupted."""
    with PostgresDatabase() as db:
        world = open_world(tmp_path / "data", db.url)
        try:
            _target(world, cluster)
            account, first = _app(cluster)
            _create(world, "db/on-pg", account, first, "DoubleUsers")
            _cut_after(world, "db/on-pg", STEP_APPLIED)
            value = _resumed(world, "db/on-pg")
            assert cluster.reads_data(value["AccountName"], value["AccountPassword"], account)
            act(world, "RotateSecret", SecretName="db/on-pg", VersionId="r2")
            name, password, answer = _value(world, "db/on-pg")
            assert (name, answer["VersionId"]) == (account, "r2") and cluster.reads_data(
                name, password, account
            )
        finally:
            world.services.audit.close()
            world.close()


class _Accepting:
    """A target that takes every password and login (the limit is about counting, not servers)."""

    def set_password(self, admin: Any, account: str, password: str, *, like: str) -> None:
        del admin, account, password, like

    def verify(self, account: str, password: str) -> None:
        del account, password


def test_rotate_secret_limit_is_counted_across_nodes(tmp_path: Path, cluster: Cluster) -> None:
    """RotateSecret starts at most 50 rotations per account in any hour, counted in the database:
    two nodes over one PostgreSQL deployment share the count, the 51st is LimitExceeded (400
    Rejected.LimitExceeded on the wire) on either node and starts nothing; a VersionId the
    secret has is still answered; an hour after, rotations start again."""
    with PostgresDatabase() as db:
        node_a = open_world(tmp_path / "data", db.url)
        node_b = open_world(tmp_path / "data", db.url, create=False)
        try:
            _target(node_a, cluster)
            names = []
            for i in range(3):
                account, first = _app(cluster)
                _create(node_a, f"db/limit-{i}", account, first)
                names.append(f"db/limit-{i}")
            for world in (node_a, node_b):
                world.services.rotation.driver_for = lambda kind, dsn: _Accepting()  # type: ignore[method-assign]
            for i in range(ROTATIONS_PER_HOUR):
                world = node_a if i % 2 else node_b
                act(world, "RotateSecret", SecretName=names[i % 3], VersionId=f"r{i}")
            for world in (node_a, node_b):
                with pytest.raises(LimitExceeded):
                    act(world, "RotateSecret", SecretName=names[0], VersionId="over")
            versions = act(node_b, "ListSecretVersionIds", SecretName=names[0], IncludeDeprecated=True)
            assert "over" not in json.dumps(versions)
            assert act(node_a, "RotateSecret", SecretName=names[0], VersionId="r48")["VersionId"] == "r48"

            for world in (node_a, node_b):
                world.clock.advance(3600)
            act(node_b, "RotateSecret", SecretName=names[1], VersionId="next-hour")
            assert _value(node_a, names[1])[2]["VersionId"] == "next-hour"
        finally:
            for world in (node_b, node_a):
                world.services.audit.close()
                world.close()


def test_update_secret_replaces_custom_data_of_a_managed_secret(world: World, cluster: Cluster) -> None:
    """UpdateSecret's ExtendedConfig changes a managed secret's CustomData (in each SDK's form)
    and nothing else of it; more than 10 pairs or another member is InvalidParameter, and a
    Generic secret refuses it."""
    _target(world, cluster)
    account, first = _app(cluster)
    _create(world, "db/custom", account, first)
    spec = REGISTRY[("2016-01-20", "UpdateSecret")]
    ctx = CallContext(world.services, root_scope(world.dep.account_id, "UpdateSecret"))

    def update(**raw: str) -> None:
        raw = {"SecretName": "db/custom", **raw}
        spec.handler(ctx, **spec.bind(raw))

    update(**{"ExtendedConfig.CustomData.team": "pay", "ExtendedConfig.CustomData.tier": "1"})
    config = json.loads(act(world, "DescribeSecret", SecretName="db/custom")["ExtendedConfig"])
    assert config == {
        "SecretSubType": "SingleUser",
        "DBInstanceId": "pg1",
        "CustomData": {"team": "pay", "tier": "1"},
    }
    update(**{"ExtendedConfig.CustomData": '{"owner":"ops"}'}, Description="d")
    described = act(world, "DescribeSecret", SecretName="db/custom")
    assert json.loads(described["ExtendedConfig"])["CustomData"] == {"owner": "ops"}
    assert described["Description"] == "d"
    for bad in (
        {"ExtendedConfig.CustomData": json.dumps({str(i): "v" for i in range(11)})},
        {"ExtendedConfig.CustomData": "[1]"},
        {"ExtendedConfig.DBInstanceId": "elsewhere"},
        {"ExtendedConfig": '{"SecretSubType":"DoubleUsers"}'},
    ):
        with pytest.raises(Exception) as refused:
            update(**bad)
        assert type(refused.value).__name__ == "InvalidValue"
    assert json.loads(act(world, "DescribeSecret", SecretName="db/custom")["ExtendedConfig"])[
        "CustomData"
    ] == {"owner": "ops"}
    act(world, "RotateSecret", SecretName="db/custom", VersionId="r1")
    name, password, _ = _value(world, "db/custom")
    assert cluster.reads_data(name, password, account)


DOCS = Path(__file__).resolve().parents[3] / "docs" / "secrets.md"


def _documented_admin(section: str, fence: str, name: str, password: str) -> list[str]:
    """The statements docs/secrets.md gives for a target's admin account (the first ``fence``
    block of ``section``), for an admin called ``name`` with ``password``."""
    text = DOCS.read_text()
    body = text.split(f"\n### {section}\n", 1)[1].split("\n### ", 1)[0]
    block = body.split(f"```{fence}\n")[1].split("```", 1)[0]
    lines = [line.split("--", 1)[0].strip() for line in block.splitlines()]
    return [line.rstrip(";").replace("rotator", name).replace("…", password) for line in lines if line]


@pytest.mark.parametrize("kind", ["postgresql", "mysql", "redis"])
def test_the_documented_least_privilege_admin_rotates(world: World, cluster: Cluster, kind: str) -> None:
    """An admin made with exactly the statements docs/secrets.md gives (nothing more) rotates a
    DoubleUsers secret twice: the second account made with the first's privileges, each value
    logging in and reading the application's data."""
    admin, admin_password = f"docadmin_{uuid.uuid4().hex[:8]}", "adm-Pw-1"
    with mysql_accounts.accounts() as my_made, redis_acl.acl_users() as redis_made:
        if kind == "postgresql":
            with cluster.superuser() as conn:
                for stmt in _documented_admin("PostgreSQL", "sql", admin, admin_password):
                    conn.execute(stmt)  # type: ignore[arg-type]  # statements from our own docs
            account, first = _app(cluster)
            dsn = cluster.dsn

            def reads(user: str, password: str) -> bool:
                return cluster.reads_data(user, password, account)
        elif kind == "mysql":
            statements = _documented_admin("MySQL and MariaDB", "sql", admin, admin_password)
            my_made.append(admin)
            mysql_accounts.root(
                ";".join(s.replace("app.*", f"{mysql_accounts.DATABASE}.*") for s in statements)
            )
            account, first, dsn = (
                mysql_accounts.make_app(my_made, "first-Pw-1"),
                "first-Pw-1",
                mysql_accounts.DSN,
            )
            reads = mysql_accounts.reads_data
        else:
            [statement] = _documented_admin("Redis", "redis", admin, admin_password)
            redis_made.append(admin)
            assert redis_acl.call(*statement.split()) == "+OK"
            account, first, dsn = redis_acl.make_app(redis_made, "first-Pw-1"), "first-Pw-1", redis_acl.DSN
            reads = redis_acl.logs_in
        act(world, "CreateSecret", SecretName="admin-doc", VersionId="v1",
            SecretData=json.dumps({"AccountName": admin, "AccountPassword": admin_password}))  # fmt: skip
        world.services.rotation.create_target(world.dep.account_id, "doc1", kind, dsn, "admin-doc")
        act(world, "CreateSecret", SecretName="doc", VersionId="v1",
            SecretType="Redis" if kind == "redis" else "Rds",
            SecretData=json.dumps({"Accounts": [{"AccountName": account, "AccountPassword": first}]}),
            ExtendedConfig=json.dumps({"SecretSubType": "DoubleUsers",
                                       "InstanceId" if kind == "redis" else "DBInstanceId": "doc1"}))  # fmt: skip
        for version in ("r1", "r2"):
            act(world, "RotateSecret", SecretName="doc", VersionId=version)
            assert "RotationStatus" not in act(world, "DescribeSecret", SecretName="doc")
            name, password, answer = _value(world, "doc")
            assert answer["VersionId"] == version and reads(name, password)
        assert name == account and _value(world, "doc", "ACSPrevious")[0] == account + "_dual"
