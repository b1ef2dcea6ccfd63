"""The authorization hop keeps decisions under everything they depend on: a write (a policy
detached) ends them at once, a different client address is another decision, and a decision
whose policy reads the time is never kept."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from openkms.config import Settings
from openkms.domain import errors
from openkms.domain.ram import Owner
from openkms.service.authz import Circumstances
from openkms.service.context import Services, build_services
from openkms.service.deployment import init_deployment


@dataclass
class World:
    services: Services
    account: str
    key_id: str
    alice: Owner


def _policy(*statements: dict[str, object]) -> str:
    return json.dumps({"Version": "1", "Statement": list(statements)})


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    dep, _ = init_deployment(Settings(data_dir=tmp_path / "data"))
    s = build_services(dep)
    account = dep.account_id
    key = s.keys.create(
        key_spec="Aliyun_AES_256", key_usage=None, origin="Aliyun_KMS", protection_level="SOFTWARE",
        description="", enable_automatic_rotation=False, rotation_interval=None, tag_map={}, account_uid=account,
    )  # fmt: skip
    user = s.ram.create_user(account, "alice")
    yield World(s, account, key.key_id, Owner(account, user.user_id))
    dep.close()


def _encrypt(w: World, source_ip: str = "127.0.0.1", now: float | None = None) -> bool:
    seen = Circumstances(source_ip, False, time.time() if now is None else now)
    try:
        w.services.authz.authorize(w.alice, "Kms", "Encrypt", {"KeyId": w.key_id}, seen)
    except errors.NoPermission:
        return False
    return True


def test_a_kept_decision_ends_with_the_write_that_changes_it(world: World) -> None:
    assert not _encrypt(world)
    world.services.ram_policies.attach(world.account, "System", "AliyunKMSCryptoUserAccess", "User", "alice")
    assert _encrypt(world) and _encrypt(world)  # the second from the cache
    world.services.ram_policies.detach(world.account, "System", "AliyunKMSCryptoUserAccess", "User", "alice")
    assert not _encrypt(world)


def test_the_client_address_is_part_of_a_kept_decision(world: World) -> None:
    near = {"IpAddress": {"acs:SourceIp": "127.0.0.0/8"}}
    document = _policy({"Effect": "Allow", "Action": "kms:Encrypt", "Resource": "*", "Condition": near})
    world.services.ram_policies.create_policy(world.account, "near", document)
    world.services.ram_policies.attach(world.account, "Custom", "near", "User", "alice")
    assert _encrypt(world, "127.0.0.1")
    assert not _encrypt(world, "10.1.2.3")
    assert _encrypt(world, "127.0.0.1")


def test_a_decision_on_the_time_is_never_kept(world: World) -> None:
    until = time.time() + 3600
    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(until))
    before = {"DateLessThan": {"acs:CurrentTime": stamp}}
    document = _policy({"Effect": "Allow", "Action": "kms:Encrypt", "Resource": "*", "Condition": before})
    world.services.ram_policies.create_policy(world.account, "until", document)
    world.services.ram_policies.attach(world.account, "Custom", "until", "User", "alice")
    assert _encrypt(world, now=until - 10)
    assert not _encrypt(world, now=until + 10)  # kept, it would have answered as before
