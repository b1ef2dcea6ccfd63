"""Automatic rotation driven by a moved clock, in-process (no sleeps)."""

from __future__ import annotations

from pathlib import Path

from openkms.config import Settings
from openkms.domain.clock import FixedClock
from openkms.service.context import build_services
from openkms.service.deployment import init_deployment
from openkms.service.keys import KeyService
from openkms.service.tenancy import root_scope
from openkms.service.versions import VersionService

DAY = 86400.0


def _services(tmp_path: Path) -> tuple[FixedClock, KeyService, VersionService]:
    clock = FixedClock(1_800_000_000.0)
    dep = init_deployment(Settings(data_dir=tmp_path / "data"), clock)[0]
    services = build_services(dep)
    return clock, services.keys, services.versions


def _create(keys: KeyService, rotate: str | None):  # type: ignore[no-untyped-def]
    return keys.create(
        key_spec="Aliyun_AES_256", key_usage=None, origin="Aliyun_KMS", protection_level="SOFTWARE",
        description="", enable_automatic_rotation=rotate is not None, rotation_interval=rotate,
        tag_map={}, account_uid=keys.dep.account_id,
    )


def test_rotation_happens_when_due_and_only_then(tmp_path: Path) -> None:
    """A 7-day key rotates after 7 days, once, and its next date moves a full interval on."""
    clock, keys, versions = _services(tmp_path)
    key = _create(keys, "7d")
    plain = _create(keys, None)
    clock.advance(7 * DAY - 1)
    assert versions.rotate_due() == 0
    clock.advance(1)
    assert versions.rotate_due() == 1
    assert versions.rotate_due() == 0  # idempotent: nothing is due any more
    scope = root_scope(keys.dep.account_id)
    after = keys.get(scope, key.key_id)
    assert key.primary_version_id != after.primary_version_id
    assert clock.now() == after.last_rotation_date
    assert clock.now() + 7 * DAY == after.next_rotation_date
    assert plain.primary_version_id == keys.get(scope, plain.key_id).primary_version_id
    # Every version's material stays available after rotation.
    for v in (key.primary_version_id, after.primary_version_id):
        assert v is not None
        assert len(keys.material(after, v)) == 32


def test_disabled_key_suspends_rotation(tmp_path: Path) -> None:
    """A key that is not Enabled is not rotated even when due (AutomaticRotation=Suspended)."""
    from openkms.store import keys as repo

    clock, keys, versions = _services(tmp_path)
    key = _create(keys, "7d")
    with keys.dep.db.write() as tx:
        repo.update_key(tx, key.key_id, key_state="Disabled")
    clock.advance(30 * DAY)
    assert versions.rotate_due() == 0
    with keys.dep.db.write() as tx:
        repo.update_key(tx, key.key_id, key_state="Enabled")
    assert versions.rotate_due() == 1
