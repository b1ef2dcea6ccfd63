"""The standard jobs, driven through the runner with a moved clock: rotation when due and
nonce clean-up (key destruction has its own tests in tests/unit/service/test_deletion.py)."""

from __future__ import annotations

from openkms.jobs import build_runner
from tests.support.inprocess import World

DAY = 86400


def test_standard_jobs_are_registered(world: World) -> None:
    """Every deployment runs key destruction, rotation, nonce pruning, secret purging, material
    expiry and import-token pruning."""
    assert {
        "destroy-deleted-keys", "rotate-keys", "prune-nonces", "purge-deleted-secrets",
        "expire-key-material", "prune-import-tokens", "rotate-secrets",
    } == set(build_runner(world.services).job_names)


def test_runner_rotates_due_keys(world: World) -> None:
    """A key with a 7-day rotation gets a new primary version at the first tick after 7 days."""
    key = world.keys.create(
        key_spec="Aliyun_AES_256", key_usage=None, origin="Aliyun_KMS", protection_level="SOFTWARE",
        description="", enable_automatic_rotation=True, rotation_interval="7d", tag_map={},
        account_uid=world.dep.account_id,
    )
    runner = build_runner(world.services, holder="a")
    runner.tick()
    assert key.primary_version_id == world.keys.get(world.scope, key.key_id).primary_version_id
    world.clock.advance(7 * DAY)
    assert "rotate-keys" in runner.tick()
    assert key.primary_version_id != world.keys.get(world.scope, key.key_id).primary_version_id


def test_runner_prunes_expired_nonces(world: World) -> None:
    """The prune job runs over the deployment's nonce store: expired records go (their
    nonces may be used again), live ones stay."""
    store = world.dep.nonces
    now = world.clock.now()
    assert store.use("ak", "old", now + 10, now)
    assert store.use("ak", "live", now + 1000, now)
    world.clock.advance(100)
    assert "prune-nonces" in build_runner(world.services, holder="a").tick()
    later = world.clock.now()
    assert not store.use("ak", "live", later + 1000, later)
    assert store.use("ak", "old", later + 1000, later)

def _system_events(world: World) -> list[dict[str, object]]:
    import json

    from openkms.store import audit as repo

    db = world.dep.db
    found = [json.loads(r.event) for c in repo.chains(db) for r in repo.events(db, c.chain)]
    return [e for e in found if e["eventType"] == "AliyunServiceEvent" and e["eventName"] != "AuditChainStarted"]


def test_what_the_jobs_do_to_keys_and_secrets_is_audited(world: World) -> None:
    """A scheduled rotation and a destruction after the pending window each leave one event of
    the system identity naming the key, its versions and its account."""
    rotating = world.keys.create(
        key_spec="Aliyun_AES_256", key_usage=None, origin="Aliyun_KMS", protection_level="SOFTWARE",
        description="", enable_automatic_rotation=True, rotation_interval="7d", tag_map={},
        account_uid=world.dep.account_id,
    )
    doomed = world.create_key()
    world.services.lifecycle.schedule_key_deletion(world.scope, doomed.key_id, 7)
    runner = build_runner(world.services, holder="a")
    world.clock.advance(7 * DAY + 1)
    runner.tick()
    events = {e["eventName"]: e for e in _system_events(world)}
    assert set(events) == {"RotateKey", "DestroyKey"}
    rotated = world.keys.get(world.scope, rotating.key_id).primary_version_id
    assert events["RotateKey"]["referencedResources"] == {
        "ACS::KMS::Key": [rotating.key_id], "ACS::KMS::KeyVersion": [rotated],
    }
    assert events["DestroyKey"]["referencedResources"]["ACS::KMS::Key"] == [doomed.key_id]
    for event in events.values():
        assert event["userIdentity"] == {"type": "system", "principalId": "openkms", "userName": "openkms"}
        assert event["recipientAccountId"] == world.dep.account_id
    world.services.audit.close()
