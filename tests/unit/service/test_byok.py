"""Bring your own key at the service level, on a FixedClock: token lifetime and binding, what is
stored (wrapped private keys, keyed digests), burnt tokens, material expiry through the job
runner, and material caches of other processes after DeleteKeyMaterial."""

from __future__ import annotations

import hashlib
import os

import pytest
from cryptography.hazmat.primitives.serialization import load_der_private_key
from sqlalchemy import select, update

from openkms.domain import errors, keystate
from openkms.jobs import build_runner
from openkms.service.context import Services
from openkms.store.schema import import_tokens, key_versions
from tests.support.byok import wrap
from tests.support.inprocess import START, World

DAY = 86400
OAEP = "RSAES_OAEP_SHA_256"


def _external(world: World, spec: str = "Aliyun_AES_256") -> str:
    return world.create_key(spec=spec, origin="EXTERNAL").key_id


def _import(world: World, key_id: str, material: bytes, expire_unix: int = 0, svc: Services | None = None) -> str:
    """Import ``material`` with a fresh token; returns the token."""
    b = (svc or world.services).byok
    params = b.get_parameters_for_import(world.scope, key_id, "RSA_2048", OAEP)
    b.import_key_material(world.scope, key_id, wrap(params.public_key, OAEP, material), params.token, expire_unix)
    return params.token


def _version_row(world: World, key_id: str):  # type: ignore[no-untyped-def]
    with world.dep.db.engine.connect() as conn:
        return conn.execute(select(key_versions).where(key_versions.c.key_id == key_id)).one()


def test_token_lives_24_hours(world: World) -> None:
    """TokenExpireTime is 24 h after the call; the token works until then and is expired from then on."""
    key_id = _external(world)
    material = os.urandom(32)
    params = world.services.byok.get_parameters_for_import(world.scope, key_id, "RSA_2048", OAEP)
    assert params.expires_at == START + DAY
    world.clock.advance(DAY - 1)
    world.services.byok.import_key_material(world.scope, key_id, wrap(params.public_key, OAEP, material), params.token, 0)
    world.clock.advance(1)
    with pytest.raises(errors.ExpiredImportToken):
        world.services.byok.import_key_material(world.scope, key_id, wrap(params.public_key, OAEP, material), params.token, 0)


def test_token_is_bound_to_its_key(world: World) -> None:
    """A token issued for one key is InvalidImportToken on another, as is a token never issued."""
    first, second = _external(world), _external(world)
    params = world.services.byok.get_parameters_for_import(world.scope, first, "RSA_2048", OAEP)
    wrapped = wrap(params.public_key, OAEP, os.urandom(32))
    with pytest.raises(errors.InvalidImportToken):
        world.services.byok.import_key_material(world.scope, second, wrapped, params.token, 0)
    with pytest.raises(errors.InvalidImportToken):
        world.services.byok.import_key_material(world.scope, first, wrapped, "never-issued", 0)
    assert world.keys.get(world.scope, second).key_state == keystate.PENDING_IMPORT


@pytest.mark.parametrize("change", ["key_id", "expires_at"])
def test_edited_token_row_does_not_unwrap(world: World, change: str) -> None:
    """A token row moved to another key, or given a later expiry, in the database is refused."""
    first, second = _external(world), _external(world)
    params = world.services.byok.get_parameters_for_import(world.scope, first, "RSA_2048", OAEP)
    target = first
    with world.dep.db.write() as tx:
        values = {"key_id": second} if change == "key_id" else {"expires_at": params.expires_at + 10 * DAY}
        tx.run(update(import_tokens).where(import_tokens.c.token == params.token).values(**values))
    if change == "key_id":
        target = second
    else:
        world.clock.advance(2 * DAY)
    with pytest.raises(errors.InvalidImportToken):
        world.services.byok.import_key_material(world.scope, target, wrap(params.public_key, OAEP, os.urandom(32)), params.token, 0)


def test_wrapping_private_key_is_stored_wrapped(world: World) -> None:
    """The token's private key is in the database only as a KEK-wrapped blob, never as DER."""
    key_id = _external(world)
    params = world.services.byok.get_parameters_for_import(world.scope, key_id, "RSA_2048", OAEP)
    with world.dep.db.engine.connect() as conn:
        row = conn.execute(select(import_tokens).where(import_tokens.c.token == params.token)).one()
    assert (key_id, params.public_key) == (row.key_id, bytes(row.public_key_der))
    with pytest.raises(ValueError):
        load_der_private_key(bytes(row.private_wrapped), password=None)


def test_failed_material_burns_the_token(world: World) -> None:
    """InvalidKeyMaterial (here: 16 bytes for an AES-256 key) burns the token: it cannot be tried again."""
    key_id = _external(world)
    params = world.services.byok.get_parameters_for_import(world.scope, key_id, "RSA_2048", OAEP)
    with pytest.raises(errors.InvalidKeyMaterial):
        world.services.byok.import_key_material(world.scope, key_id, wrap(params.public_key, OAEP, os.urandom(16)), params.token, 0)
    with pytest.raises(errors.InvalidImportToken):
        world.services.byok.import_key_material(world.scope, key_id, wrap(params.public_key, OAEP, os.urandom(32)), params.token, 0)
    assert world.keys.get(world.scope, key_id).key_state == keystate.PENDING_IMPORT


def test_a_good_token_may_be_used_again(world: World) -> None:
    """Within its 24 hours a token imports again (the same material, a new expiry)."""
    key_id = _external(world)
    material = os.urandom(32)
    params = world.services.byok.get_parameters_for_import(world.scope, key_id, "RSA_2048", OAEP)
    world.services.byok.import_key_material(world.scope, key_id, wrap(params.public_key, OAEP, material), params.token, 0)
    world.services.byok.import_key_material(world.scope, key_id, wrap(params.public_key, OAEP, material), params.token, int(START) + 5 * DAY
    )
    assert world.keys.get(world.scope, key_id).material_expire_time == START + 5 * DAY


def test_material_digest_is_keyed(world: World) -> None:
    """The stored digest is no plain hash of the material, and the same material in two keys
    gives two unrelated digests."""
    material = os.urandom(32)
    first, second = _external(world), _external(world)
    _import(world, first, material)
    _import(world, second, material)
    digests = [_version_row(world, k).material_digest for k in (first, second)]
    assert digests[0] != digests[1]
    for digest in digests:
        assert digest.startswith("v1:")
        for plain in (hashlib.sha256(material).hexdigest(), hashlib.sha1(material).hexdigest(), material.hex()):
            assert plain not in digest


def test_expire_time_must_be_in_the_future(world: World) -> None:
    """KeyMaterialExpireUnix at or before the server's now is InvalidParameter; 0 means never."""
    key_id = _external(world)
    for value in (int(START), int(START) - 1):
        with pytest.raises(errors.InvalidValue) as info:
            _import(world, key_id, os.urandom(32), value)
        assert info.value.parameter == "KeyMaterialExpireUnix"
    _import(world, key_id, os.urandom(32), 0)
    assert world.keys.get(world.scope, key_id).material_expire_time is None


def test_material_expires_through_the_job(world: World) -> None:
    """At MaterialExpireTime the key refuses use at once; the next tick deletes the material and
    moves the key to PendingImport; importing the same material brings old ciphertexts back."""
    key_id = _external(world)
    material = os.urandom(32)
    _import(world, key_id, material, int(START) + 1000)
    blob = world.services.symmetric.encrypt(world.scope, key_id, b"kept", {}).blob
    runner = build_runner(world.services, holder="a")

    world.clock.advance(999)
    assert "expire-key-material" in runner.tick()
    assert world.services.symmetric.decrypt(world.scope, blob, {}).plaintext == b"kept"

    world.clock.advance(1)
    with pytest.raises(errors.KeyPendingImport):
        world.services.symmetric.decrypt(world.scope, blob, {})
    with pytest.raises(errors.KeyPendingImport):
        world.services.symmetric.encrypt(world.scope, key_id, b"x", {})
    world.clock.advance(60)
    runner.tick()
    key = world.keys.get(world.scope, key_id)
    assert (key.key_state, key.material_expire_time) == (keystate.PENDING_IMPORT, None)
    row = _version_row(world, key_id)
    assert (row.material_wrapped, row.kek_version) == (None, None)
    assert row.material_digest is not None

    _import(world, key_id, material)
    assert world.services.symmetric.decrypt(world.scope, blob, {}).plaintext == b"kept"
    with pytest.raises(errors.InvalidKeyMaterial):
        _import(world, key_id, os.urandom(32))


def test_expiry_keeps_pending_deletion(world: World) -> None:
    """Material expiring on a key pending deletion leaves its state and DeleteDate alone."""
    key_id = _external(world)
    _import(world, key_id, os.urandom(32), int(START) + 1000)
    scheduled = world.services.lifecycle.schedule_key_deletion(world.scope, key_id, 7)
    world.clock.advance(2000)
    build_runner(world.services, holder="a").tick()
    key = world.keys.get(world.scope, key_id)
    assert (keystate.PENDING_DELETION, scheduled.delete_date, None) == (
        key.key_state, key.delete_date, key.material_expire_time
    )
    assert _version_row(world, key_id).material_wrapped is None
    assert world.services.lifecycle.cancel_key_deletion(world.scope, key_id).key_state == keystate.PENDING_IMPORT


def test_reimport_without_expiry_outruns_the_job(world: World) -> None:
    """Re-importing with KeyMaterialExpireUnix=0 before the expiry keeps the key Enabled for good."""
    key_id = _external(world)
    material = os.urandom(32)
    _import(world, key_id, material, int(START) + 1000)
    _import(world, key_id, material, 0)
    world.clock.advance(10 * DAY)
    runner = build_runner(world.services, holder="a")
    runner.tick()
    assert world.keys.get(world.scope, key_id).key_state == keystate.ENABLED
    assert world.services.symmetric.encrypt(world.scope, key_id, b"x", {}).blob


def test_expiry_job_is_idempotent(world: World) -> None:
    """Running the expiry twice over the same now changes nothing more."""
    key_ids = [_external(world) for _ in range(3)]
    for key_id in key_ids:
        _import(world, key_id, os.urandom(32), int(START) + 10)
    world.clock.advance(10)
    assert world.services.byok.expire_due_material(world.clock.now(), lambda _c: None, batch=2) == 3
    assert world.services.byok.expire_due_material(world.clock.now(), lambda _c: None) == 0
    assert {keystate.PENDING_IMPORT} == {world.keys.get(world.scope, k).key_state for k in key_ids}


def test_other_process_cache_does_not_outlive_deletion(world: World) -> None:
    """A second process's cached material is not used once another process deleted the material,
    and it reads the material again after the re-import."""
    other = world.another_process()  # another worker process over the same database
    key_id = _external(world)
    material = os.urandom(32)
    _import(world, key_id, material)
    blob = other.symmetric.encrypt(world.scope, key_id, b"cached", {}).blob
    version_id = world.keys.get(world.scope, key_id).primary_version_id
    assert version_id is not None

    world.services.byok.delete_key_material(world.scope, key_id)
    key = other.keys.get(world.scope, key_id)
    with pytest.raises(errors.KeyPendingImport):
        other.keys.material(key, version_id)
    with pytest.raises(errors.KeyPendingImport):
        other.symmetric.decrypt(world.scope, blob, {})

    _import(world, key_id, material)
    assert other.symmetric.decrypt(world.scope, blob, {}).plaintext == b"cached"


def test_delete_and_import_in_pending_deletion(world: World) -> None:
    """Pending deletion: DeleteKeyMaterial keeps the state and DeleteDate; ImportKeyMaterial is refused."""
    key_id = _external(world)
    material = os.urandom(32)
    _import(world, key_id, material)
    scheduled = world.services.lifecycle.schedule_key_deletion(world.scope, key_id, 30)
    deleted = world.services.byok.delete_key_material(world.scope, key_id)
    assert (keystate.PENDING_DELETION, scheduled.delete_date) == (deleted.key_state, deleted.delete_date)
    with pytest.raises(errors.StateTransitionRefused):
        _import(world, key_id, material)


def test_import_keeps_disabled(world: World) -> None:
    """Re-importing into a Disabled key sets the new expiry and leaves it Disabled."""
    key_id = _external(world)
    material = os.urandom(32)
    _import(world, key_id, material)
    world.services.lifecycle.disable_key(world.scope, key_id)
    _import(world, key_id, material, int(START) + DAY)
    key = world.keys.get(world.scope, key_id)
    assert (key.key_state, key.material_expire_time) == (keystate.DISABLED, START + DAY)


def test_old_tokens_are_pruned(world: World) -> None:
    """An expired token answers ExpiredImportToken for a week, then the job deletes it."""
    key_id = _external(world)
    params = world.services.byok.get_parameters_for_import(world.scope, key_id, "RSA_2048", OAEP)
    wrapped = wrap(params.public_key, OAEP, os.urandom(32))
    runner = build_runner(world.services, holder="a")
    world.clock.advance(DAY + 7 * DAY - 1)
    runner.tick()
    with pytest.raises(errors.ExpiredImportToken):
        world.services.byok.import_key_material(world.scope, key_id, wrapped, params.token, 0)
    world.clock.advance(2 * 3600)
    assert "prune-import-tokens" in runner.tick()
    with pytest.raises(errors.InvalidImportToken):
        world.services.byok.import_key_material(world.scope, key_id, wrapped, params.token, 0)


def test_byok_needs_an_external_key(world: World) -> None:
    """All three operations refuse an Aliyun_KMS key with UnsupportedOrigin."""
    key_id = world.create_key().key_id
    with pytest.raises(errors.UnsupportedOrigin):
        world.services.byok.get_parameters_for_import(world.scope, key_id, "RSA_2048", OAEP)
    with pytest.raises(errors.UnsupportedOrigin):
        world.services.byok.import_key_material(world.scope, key_id, "AAAA", "token", 0)
    with pytest.raises(errors.UnsupportedOrigin):
        world.services.byok.delete_key_material(world.scope, key_id)


def test_secret_under_expired_material(world: World) -> None:
    """A secret encrypted under an EXTERNAL key is unreadable (Rejected.PendingImport) from its
    MaterialExpireTime on, and readable again after the same material is imported."""
    key_id = _external(world)
    material = os.urandom(32)
    _import(world, key_id, material, int(START) + 100)
    secrets = world.services.secrets
    secrets.create(
        world.scope,
        name="byok-secret", version_id="v1", data="imported", data_type="text", description="",
        encryption_key_id=key_id, tag_map={}, policy=None,
    )
    world.clock.advance(100)
    with pytest.raises(errors.KeyPendingImport):
        secrets.get_value(world.scope, "byok-secret", None, None)
    _import(world, key_id, material)
    assert secrets.get_value(world.scope, "byok-secret", None, None).data == "imported"
