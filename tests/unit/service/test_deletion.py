"""Scheduled deletion end to end at the service level, with a FixedClock and the job runner:
the key is destroyed once DeleteDate passes, never before, idempotently and crash-safely."""

from __future__ import annotations

import base64

import pytest
from sqlalchemy import select

from openkms.domain import errors, keystate
from openkms.jobs import JobRunner, build_runner
from openkms.store import keys as repo
from openkms.store.schema import aliases, key_versions, keys, tags
from tests.support.inprocess import World

DAY = 86400


def _runner(world: World, holder: str = "node-a") -> JobRunner:
    return build_runner(world.services, holder=holder)


def test_key_is_destroyed_after_the_window(world: World) -> None:
    """A key scheduled for 7 days survives 7 days minus a second and is gone right after."""
    key = world.create_key()
    blob = world.services.symmetric.encrypt(world.scope, key.key_id, b"secret", {}).blob
    scheduled = world.services.lifecycle.schedule_key_deletion(world.scope, key.key_id, 7)
    assert scheduled.key_state == keystate.PENDING_DELETION
    assert world.clock.now() + 7 * DAY == scheduled.delete_date
    runner = _runner(world)

    world.clock.advance(7 * DAY - 1)
    assert "destroy-deleted-keys" in runner.tick()
    assert world.keys.get(world.scope, key.key_id).key_state == keystate.PENDING_DELETION

    world.clock.advance(61)
    assert "destroy-deleted-keys" in runner.tick()
    with pytest.raises(errors.KeyNotFound):
        world.keys.get(world.scope, key.key_id)
    with pytest.raises(errors.KeyNotFound):
        world.services.symmetric.decrypt(world.scope, blob, {})


def test_destruction_shreds_the_material(world: World) -> None:
    """After destruction no wrapped material, alias, tag or key row is left; versions keep only ids."""
    key = world.create_key()
    with world.dep.db.write() as tx:
        owner = key.account_uid
        tx.run(tags.insert().values(
            account_uid=owner, resource_type="key", resource_id=key.key_id, tag_key="k", tag_value="v"
        ))
        tx.run(aliases.insert().values(
            account_uid=owner, alias_name="alias/doomed", key_id=key.key_id, creation_date=0, update_date=0
        ))
    world.services.lifecycle.schedule_key_deletion(world.scope, key.key_id, 7)
    world.clock.advance(8 * DAY)
    _runner(world).tick()
    with world.dep.db.engine.connect() as conn:
        assert conn.execute(select(keys).where(keys.c.key_id == key.key_id)).all() == []
        assert conn.execute(select(tags).where(tags.c.resource_id == key.key_id)).all() == []
        assert conn.execute(select(aliases).where(aliases.c.key_id == key.key_id)).all() == []
        rows = conn.execute(select(key_versions).where(key_versions.c.key_id == key.key_id)).all()
    assert [(r.material_wrapped, r.public_key_der, r.kek_version) for r in rows] == [(None, None, None)]


def test_cancelled_key_is_not_destroyed(world: World) -> None:
    """CancelKeyDeletion before DeleteDate keeps the key, Enabled, after the date passes."""
    key = world.create_key()
    world.services.lifecycle.schedule_key_deletion(world.scope, key.key_id, 7)
    world.services.lifecycle.cancel_key_deletion(world.scope, key.key_id)
    world.clock.advance(30 * DAY)
    _runner(world).tick()
    kept = world.keys.get(world.scope, key.key_id)
    assert (kept.key_state, kept.delete_date) == (keystate.ENABLED, None)


def test_destruction_is_idempotent(world: World) -> None:
    """Running the job again (or twice in one tick's time) changes nothing more."""
    doomed = [world.create_key().key_id for _ in range(3)]
    survivor = world.create_key().key_id
    for key_id in doomed:
        world.services.lifecycle.schedule_key_deletion(world.scope, key_id, 7)
    world.clock.advance(7 * DAY)
    fence = _runner(world)
    fence.acquire(world.clock.now())
    assert world.services.lifecycle.destroy_due_keys(world.clock.now(), fence.fence) == 3
    assert world.services.lifecycle.destroy_due_keys(world.clock.now(), fence.fence) == 0
    assert survivor == world.keys.get(world.scope, survivor).key_id


def test_crash_inside_destruction_leaves_the_key_whole(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    """A crash after part of a key's destruction rolls it all back; the next run finishes it."""
    key = world.create_key()
    blob = world.services.symmetric.encrypt(world.scope, key.key_id, b"x", {}).blob
    world.services.lifecycle.schedule_key_deletion(world.scope, key.key_id, 7)
    world.services.lifecycle.cancel_key_deletion(world.scope, key.key_id)  # to decrypt once more below
    world.services.lifecycle.schedule_key_deletion(world.scope, key.key_id, 7)
    world.clock.advance(7 * DAY)
    real = repo.destroy

    def crash_midway(conn, key_id):  # type: ignore[no-untyped-def]
        real(conn, key_id)  # every statement ran, the transaction has not committed
        raise RuntimeError("power cut")

    monkeypatch.setattr(repo, "destroy", crash_midway)
    runner = _runner(world)
    assert "destroy-deleted-keys" not in runner.tick()
    still = world.keys.get(world.scope, key.key_id)
    assert still.key_state == keystate.PENDING_DELETION
    world.services.caches.forget_version(still.primary_version_id or "")
    world.services.lifecycle.cancel_key_deletion(world.scope, key.key_id)
    assert world.services.symmetric.decrypt(world.scope, blob, {}).plaintext == b"x"  # material intact
    world.services.lifecycle.schedule_key_deletion(world.scope, key.key_id, 7)
    world.clock.advance(7 * DAY)
    monkeypatch.setattr(repo, "destroy", real)
    world.clock.advance(60)
    assert "destroy-deleted-keys" in runner.tick()
    with pytest.raises(errors.KeyNotFound):
        world.keys.get(world.scope, key.key_id)


def test_another_lease_holder_blocks_the_job(world: World) -> None:
    """While node A holds the job lease, node B's runner does nothing; after A's lease lapses B works."""
    key = world.create_key()
    world.services.lifecycle.schedule_key_deletion(world.scope, key.key_id, 7)
    world.clock.advance(7 * DAY)
    a, b = _runner(world, "node-a"), _runner(world, "node-b")
    assert a.acquire(world.clock.now())
    assert b.tick() == []
    assert key.key_id == world.keys.get(world.scope, key.key_id).key_id
    world.clock.advance(31)  # A died: its lease lapses
    assert "destroy-deleted-keys" in b.tick()
    with pytest.raises(errors.KeyNotFound):
        world.keys.get(world.scope, key.key_id)


def test_external_key_without_material_cancels_to_pending_import(world: World) -> None:
    """CancelKeyDeletion on an EXTERNAL key that never got material returns it to PendingImport."""
    key = world.create_key(origin="EXTERNAL")
    world.services.lifecycle.schedule_key_deletion(world.scope, key.key_id, 7)
    assert world.services.lifecycle.cancel_key_deletion(world.scope, key.key_id).key_state == keystate.PENDING_IMPORT


def test_destroyed_blob_is_not_a_forged_blob(world: World) -> None:
    """A destroyed key's blob answers KeyNotFound; an unknown version id answers InvalidCiphertext."""
    key = world.create_key()
    blob = world.services.symmetric.encrypt(world.scope, key.key_id, b"x", {}).blob
    world.services.lifecycle.schedule_key_deletion(world.scope, key.key_id, 7)
    world.clock.advance(7 * DAY)
    _runner(world).tick()
    with pytest.raises(errors.KeyNotFound):
        world.services.symmetric.decrypt(world.scope, blob, {})
    raw = base64.b64decode(blob)
    with pytest.raises(errors.InvalidCiphertext):
        world.services.symmetric.decrypt(world.scope, base64.b64encode(b"11111111-1111-4111-8111-111111111111" + raw[36:]).decode(), {})
