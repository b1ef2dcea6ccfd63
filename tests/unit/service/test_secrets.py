"""Secrets Manager at the service level, on a FixedClock: the purge job, the default key, the
binding of stored values to their place, and concurrent writers."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import event, func, select, update

from openkms.domain import errors
from openkms.domain.secret import CURRENT, PREVIOUS
from openkms.jobs import build_runner
from openkms.service.secrets import SecretService
from openkms.service.tenancy import Scope, root_scope
from openkms.store import secrets as secret_repo
from openkms.store.schema import keys, secret_version_stages, secret_versions, secrets, tags
from tests.support.inprocess import World

DAY = 86400


def _service(world: World) -> SecretService:
    return world.services.secrets


def _scope(svc: SecretService) -> Scope:
    """Requests of the deployment's first account's root."""
    return root_scope(svc.dep.account_id)


def _create(svc: SecretService, name: str, data: str = "one", key: str | None = None) -> None:
    svc.create(
        _scope(svc),
        name=name, version_id="v1", data=data, data_type="text", description="",
        encryption_key_id=key, tag_map={"env": "test"}, policy=None,
    )


def _rows(world: World, name: str) -> tuple[int, int, int, int]:
    with world.dep.db.engine.connect() as conn:
        return tuple(  # type: ignore[return-value]
            int(conn.execute(select(func.count()).select_from(t).where(where)).scalar_one())
            for t, where in (
                (secrets, secrets.c.secret_name == name),
                (secret_versions, secret_versions.c.secret_name == name),
                (secret_version_stages, secret_version_stages.c.secret_name == name),
                (tags, tags.c.resource_id == name),
            )
        )


class TestPurge:
    def test_secret_is_purged_when_the_window_passes(self, world: World) -> None:
        """A secret scheduled for 7 days is kept until then and purged, with everything it owns, after."""
        svc = _service(world)
        _create(svc, "doomed")
        _, planned = svc.delete(_scope(svc), "doomed", force=False, window_days=7)
        assert world.clock.now() + 7 * DAY == planned
        runner = build_runner(world.services, holder="node-a")
        world.clock.advance(7 * DAY - 1)
        assert "purge-deleted-secrets" in runner.tick()
        assert _rows(world, "doomed") == (1, 1, 1, 1)
        world.clock.advance(61)
        assert "purge-deleted-secrets" in runner.tick()
        assert _rows(world, "doomed") == (0, 0, 0, 0)
        with pytest.raises(errors.ResourceNotFound):
            svc.describe(_scope(svc), "doomed", fetch_tags=False)

    def test_restored_secret_is_not_purged(self, world: World) -> None:
        """RestoreSecret inside the window keeps the secret past the planned time."""
        svc = _service(world)
        _create(svc, "saved")
        svc.delete(_scope(svc), "saved", force=False, window_days=7)
        svc.restore(_scope(svc), "saved")
        world.clock.advance(30 * DAY)
        assert svc.purge_due(world.clock.now(), lambda _conn: None) == 0
        assert svc.get_value(_scope(svc), "saved", None, None).data == "one"

    def test_purge_needs_the_lease(self, world: World) -> None:
        """A runner that does not hold the job lease purges nothing."""
        svc = _service(world)
        _create(svc, "leased")
        svc.delete(_scope(svc), "leased", force=False, window_days=7)
        world.clock.advance(8 * DAY)
        holder = build_runner(world.services, holder="node-a")
        other = build_runner(world.services, holder="node-b")
        assert holder.acquire(world.clock.now())
        assert other.tick() == []
        assert _rows(world, "leased") == (1, 1, 1, 1)

    def test_force_delete_removes_everything_at_once(self, world: World) -> None:
        """ForceDeleteWithoutRecovery leaves no row of the secret."""
        svc = _service(world)
        _create(svc, "gone")
        svc.delete(_scope(svc), "gone", force=True, window_days=30)
        assert _rows(world, "gone") == (0, 0, 0, 0)


class TestDefaultKey:
    def test_made_once_as_a_service_key(self, world: World) -> None:
        """The default key is made on first use, marked CreatorType Service, and reused."""
        svc = _service(world)
        key_id = svc.default_key_id(world.dep.account_id)
        assert key_id == _service(world).default_key_id(world.dep.account_id)
        assert world.keys.get(world.scope, key_id).creator_type == "Service"

    def test_race_loser_destroys_its_key(self, world: World, monkeypatch: pytest.MonkeyPatch) -> None:
        """Of two processes making the default key at once one wins; the other's key is destroyed."""
        winner = _service(world).default_key_id(world.dep.account_id)
        late = _service(world)
        original = SecretService._stored_default
        reads = iter([None])
        monkeypatch.setattr(
            SecretService, "_stored_default", staticmethod(lambda tx, account: next(reads, original(tx, account)))
        )
        assert winner == late.default_key_id(world.dep.account_id)
        with world.dep.db.engine.connect() as conn:
            assert [winner] == [r[0] for r in conn.execute(select(keys.c.key_id))]

    def test_destroyed_default_key(self, world: World) -> None:
        """Secrets under a destroyed default key answer Forbidden.KeyNotFound; new secrets get a new key."""
        svc = _service(world)
        _create(svc, "old")
        old_key = svc.default_key_id(world.dep.account_id)
        world.services.lifecycle.schedule_key_deletion(world.scope, old_key, 7)
        world.clock.advance(8 * DAY)
        build_runner(world.services).tick()
        with pytest.raises(errors.KeyNotFound):
            svc.get_value(_scope(svc), "old", None, None)
        _create(svc, "new")
        assert old_key != svc.default_key_id(world.dep.account_id)
        assert svc.get_value(_scope(svc), "new", None, None).data == "one"


class TestKeyState:
    def test_disabled_key_wins_over_dry_run(self, world: World) -> None:
        """DryRun checks the CMK first: a Disabled key answers Rejected.Disabled, not DryRunOperationError."""
        svc = _service(world)
        key = world.create_key()
        _create(svc, "dry", key=key.key_id)
        with pytest.raises(errors.DryRunSucceeded):
            svc.get_value(_scope(svc), "dry", None, None, dry_run=True)
        world.services.lifecycle.disable_key(world.scope, key.key_id)
        with pytest.raises(errors.KeyDisabled):
            svc.get_value(_scope(svc), "dry", None, None, dry_run=True)


class TestBinding:
    def _swap(self, world: World, source: tuple[str, str], target: tuple[str, str]) -> None:
        with world.dep.db.write() as tx:
            stored = tx.scalar(
                select(secret_versions.c.ciphertext).where(
                    secret_versions.c.secret_name == source[0], secret_versions.c.version_id == source[1]
                )
            )
            tx.run(
                update(secret_versions)
                .where(secret_versions.c.secret_name == target[0], secret_versions.c.version_id == target[1])
                .values(ciphertext=stored)
            )

    def test_value_moved_to_another_secret_does_not_open(self, world: World) -> None:
        """A stored value copied onto another secret's row fails authentication (InternalFailure), never
        answers the other secret's value."""
        svc = _service(world)
        _create(svc, "a", "value of a")
        _create(svc, "b", "value of b")
        self._swap(world, ("a", "v1"), ("b", "v1"))
        with pytest.raises(RuntimeError):
            svc.get_value(_scope(svc), "b", None, None)

    def test_value_moved_to_another_version_does_not_open(self, world: World) -> None:
        """The version id is bound too."""
        svc = _service(world)
        _create(svc, "c", "first")
        svc.put_value(_scope(svc), "c", "v2", "second", "text", [CURRENT])
        self._swap(world, ("c", "v1"), ("c", "v2"))
        with pytest.raises(RuntimeError):
            svc.get_value(_scope(svc), "c", None, None)

    def test_same_version_other_type_is_another_value(self, world: World) -> None:
        """PutSecretValue with an existing VersionId and the same data but another data type is refused."""
        svc = _service(world)
        _create(svc, "typed", "AAAA")
        with pytest.raises(errors.AlreadyExists):
            svc.put_value(_scope(svc), "typed", "v1", "AAAA", "binary", [CURRENT])
        assert svc.put_value(_scope(svc), "typed", "v1", "AAAA", "text", [CURRENT]) == ("typed", [CURRENT])


def test_concurrent_puts_keep_one_consistent_history(disk_world: World) -> None:
    """Writers racing PutSecretValue all succeed; 10 versions remain, ACSCurrent and ACSPrevious
    point at two of the three newest writes, and every kept version opens."""
    world = disk_world
    svc = _service(world)
    _create(svc, "busy", "v1-data")
    failures: list[BaseException] = []

    def writer(n: int) -> None:
        try:
            for i in range(3):
                svc.put_value(_scope(svc), "busy", f"w{n}-{i}", f"data-{n}-{i}", "text", [CURRENT])
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert failures == []
    _, listed, total = svc.list_versions(_scope(svc), "busy", include_deprecated=True, page_number=1, page_size=100)
    assert total == 10
    stages = {s: v.version_id for v in listed for s in v.stages}
    assert {CURRENT, PREVIOUS} == set(stages)
    assert stages[CURRENT] != stages[PREVIOUS]
    for info in listed:
        assert f"data-{info.version_id[1:]}" == svc.get_value(_scope(svc), "busy", info.version_id, None).data


class TestGetValueSnapshot:
    def test_reads_in_one_snapshot_and_writes_nothing(self, disk_world: World) -> None:
        """GetSecretValue (by default, by stage, by version) runs BEGIN, three reads and COMMIT on
        the hot connection and nothing through the pool; what it read is kept until the next
        write (the first call below and the repeat of the second read nothing)."""
        world = disk_world
        svc = _service(world)
        _create(svc, "traced", "first")
        svc.put_value(_scope(svc), "traced", "v2", "second", "text", [CURRENT])
        svc.get_value(_scope(svc), "traced", None, None)  # the key's material is now cached, as in service
        hot: list[str] = []
        pooled: list[str] = []

        def on_pool(_conn, _cursor, statement, *_args) -> None:  # type: ignore[no-untyped-def]
            pooled.append(statement)

        event.listen(world.dep.db.engine, "before_cursor_execute", on_pool)
        world.dep.db.set_trace(lambda statement: hot.append(statement.split()[0].upper()))
        try:
            answers = [
                svc.get_value(_scope(svc), "traced", None, None).data,
                svc.get_value(_scope(svc), "traced", None, PREVIOUS).data,
                svc.get_value(_scope(svc), "traced", "v2", CURRENT).data,
                svc.get_value(_scope(svc), "traced", None, PREVIOUS).data,
            ]
        finally:
            world.dep.db.set_trace(None)
            event.remove(world.dep.db.engine, "before_cursor_execute", on_pool)
        assert answers == ["second", "first", "second", "first"]
        assert (pooled, hot) == ([], ["BEGIN", "SELECT", "SELECT", "SELECT", "COMMIT"] * 2)

    def test_a_write_is_seen_at_once(self, disk_world: World) -> None:
        """The kept reads give way to the node's next write: a new current version, a stage
        moved, a secret deleted are each answered at once, also by another process's service."""
        world = disk_world
        svc = _service(world)
        other = world.another_process().secrets  # as another worker process would
        _create(svc, "seen", "first")
        assert other.get_value(_scope(other), "seen", None, None).data == "first"
        svc.put_value(_scope(svc), "seen", "v2", "second", "text", [CURRENT])
        assert other.get_value(_scope(other), "seen", None, None).data == "second"
        assert other.get_value(_scope(other), "seen", None, PREVIOUS).data == "first"
        svc.delete(_scope(svc), "seen", force=True, window_days=7)
        with pytest.raises(errors.ResourceNotFound):
            other.get_value(_scope(other), "seen", None, None)

    def test_a_change_between_its_reads_is_not_seen(
        self, disk_world: World, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """A secret deleted, and another's stage moved, after GetSecretValue read the secret row
        are answered as they were when it started: the value, not a 404 or another version."""
        world = disk_world
        svc = _service(world)
        _create(svc, "gone", "kept")
        _create(svc, "moved", "one")
        svc.put_value(_scope(svc), "moved", "v2", "two", "text", ["custom"])
        read_secret = secret_repo.get_secret
        changes = {
            "gone": lambda: svc.delete(_scope(svc), "gone", force=True, window_days=30),
            "moved": lambda: svc.update_stage(_scope(svc), "moved", "custom", "v1", "v2"),
        }

        def then_change(q, account, name, **kwargs):  # type: ignore[no-untyped-def]
            found = read_secret(q, account, name, **kwargs)
            if q is world.dep.db and name in changes:
                changes.pop(name)()  # committed on another connection, between two reads of the snapshot
            return found

        def seen(ref: str, stage: str | None) -> tuple[str, str, list[str]]:
            value = svc.get_value(_scope(svc), ref, None, stage)
            return value.version_id, value.data, value.stages

        monkeypatch.setattr(secret_repo, "get_secret", then_change)
        during = [seen("gone", None), seen("moved", "custom")]
        monkeypatch.undo()
        assert during == [("v1", "kept", [CURRENT]), ("v2", "two", ["custom"])]
        assert seen("moved", "custom") == ("v1", "one", [CURRENT, "custom"])
        with pytest.raises(errors.ResourceNotFound):
            seen("gone", None)
