"""Rekey in one process against another (service/rekey.py, service/keks.py): a serving keyring
takes up a KEK added after it started, over the bridge, on first sight of a row under it and on
its periodic read; retire refuses while a row names an old KEK and deletes them once none does;
a retired KEK's subkeys kept for audit chains and material digests still answer."""

from __future__ import annotations

import contextlib
import time
from pathlib import Path

import pytest

from openkms.crypto import aead, keyed
from openkms.domain import errors
from openkms.rootkey import KekState, Keyring, MemoryRootKey
from openkms.rootkey.keyring import bridge_aad, kek_aad, material_aad, retained_aad
from openkms.service import rekey
from openkms.store import meta
from openkms.store import rekey as repo
from tests.support.byok import wrap
from tests.support.inprocess import World, open_world
from tests.support.postgres import PostgresDatabase


def _never(prompt: str) -> str:
    raise AssertionError("a file root asks for nothing")


def test_a_keyring_takes_up_a_kek_over_a_bridge_and_follows_the_current() -> None:
    root = MemoryRootKey()
    ring = Keyring(root, {1: Keyring.new_kek(root, 1)})
    kek2 = b"\x02" * 32
    bridge = aead.seal(ring.export(1), kek2, bridge_aad(1, 2))
    blob = aead.seal(kek2, b"material", material_aad("k", "v", "Aliyun_AES_256", 2))
    state = KekState(current=1, bridges={2: (1, bridge)})
    reads: list[int] = []

    def source() -> KekState:
        reads.append(1)
        return state

    ring.attach(source, interval=3600.0)
    # On a miss: the state is read at once, the KEK opened over its bridge; still not current.
    assert ring.unwrap(2, blob, material_aad("k", "v", "Aliyun_AES_256", 2)) == b"material"
    assert ring.versions == [1, 2] and ring.current == 1 and len(reads) == 1
    # A miss for a version nobody added never opens, and reads at most once a second: none
    # within a second of the last read.
    for _ in range(5):
        with pytest.raises(aead.NotAuthentic):
            ring.unwrap(9, blob, b"x")
    assert len(reads) == 1
    # The switch is read by the periodic check, in the background.
    state = KekState(current=2, bridges={2: (1, bridge)})
    ring.attach(source, interval=0.0)
    deadline = time.monotonic() + 5
    while ring.current != 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert ring.current == 2
    assert ring.wrap(b"x", b"aad")[0] == 2


def test_a_bridge_that_does_not_open_is_left() -> None:
    root = MemoryRootKey()
    ring = Keyring(root, {1: Keyring.new_kek(root, 1)})
    forged = aead.seal(b"\x07" * 32, b"\x02" * 32, bridge_aad(1, 2))
    ring.attach(lambda: KekState(current=2, bridges={2: (1, forged)}), interval=3600.0)
    ring.refresh()
    assert ring.versions == [1] and ring.current == 1


def test_retained_subkeys_answer_for_a_retired_kek() -> None:
    root = MemoryRootKey()
    old = Keyring(root, {1: Keyring.new_kek(root, 1)})
    label = b"openkms/material-digest/v1"
    _, digest = old.digest(label, b"data")
    chain_key = old.derived(b"chain", 1)[1]
    kek2 = Keyring(root, {2: Keyring.new_kek(root, 2)}).export(2)
    retained = {
        (1, label): (2, aead.seal(kek2, keyed.subkey(old.export(1), label), retained_aad(1, label, 2))),
        (1, b"chain"): (2, aead.seal(kek2, chain_key, retained_aad(1, b"chain", 2))),
    }
    # Kept under another KEK 2 than the one held, they do not open: the version is unknown.
    other = Keyring(root, {2: Keyring.new_kek(root, 2)})
    other.load(root, {2: Keyring.new_kek(root, 2)}, 2, retained)
    with pytest.raises(KeyError):
        other.derived(b"chain", 1)
    # Loaded with the KEK they are kept under, they answer.
    ring2 = Keyring(root, {2: root.wrap(kek2, kek_aad(2, root.fingerprint))}, 2)
    ring2.load(root, {2: root.wrap(kek2, kek_aad(2, root.fingerprint))}, 2, retained)
    ring2.verify_digest(1, label, b"data", digest)
    with pytest.raises(keyed.DigestMismatch):
        ring2.verify_digest(1, label, b"other", digest)
    assert ring2.derived(b"chain", 1) == (1, chain_key)
    with pytest.raises(KeyError):
        ring2.derived(b"another label", 1)


@pytest.fixture(params=["sqlite", "postgresql"])
def two(request: pytest.FixtureRequest, tmp_path: Path):  # type: ignore[no-untyped-def]
    """A serving process (``serving``) and the operator's (``operator``) over one deployment,
    embedded or on PostgreSQL."""
    with contextlib.ExitStack() as stack:
        database = None
        if request.param == "postgresql":
            database = stack.enter_context(PostgresDatabase()).url
        serving = open_world(tmp_path / "data", database)
        operator = open_world(tmp_path / "data", database, create=False)
        yield serving, operator
        operator.close()
        serving.close()


def _encrypt(world: World, key_id: str, text: bytes) -> str:
    return world.services.symmetric.encrypt(world.scope, key_id, text, {}).blob


def test_a_serving_process_learns_the_new_kek_while_rekey_runs(two) -> None:  # type: ignore[no-untyped-def]
    serving, operator = two
    keys = [serving.create_key().key_id for _ in range(5)]
    blobs = [(_encrypt(serving, k, b"before"), b"before") for k in keys]
    root = rekey.unlock(operator.dep, _never)
    steps: list[str] = []
    progress: list[tuple[int, int]] = []
    done = rekey.rekey(
        operator.dep,
        root,
        batch=2,
        settle=0.0,
        hook=steps.append,
        progress=lambda d, t: progress.append((d, t)),
    )
    assert done.target == 2 and done.rewrapped == 6 and not done.unreadable  # 5 versions, 1 AccessKey
    assert steps == ["added", "switched", "batch", "batch", "batch", "batch", "finished"]
    assert progress[0] == (0, 6) and progress[-1] == (6, 6)
    assert rekey.behind(operator.dep, 2) == {"key_versions": 0, "access_keys": 0, "import_tokens": 0}
    # The serving process, caches empty (another worker), decrypts rows under KEK 2 it never
    # loaded, and wraps under it from then on.
    other = serving.another_process()
    for blob, text in blobs:
        assert other.symmetric.decrypt(serving.scope, blob, {}).plaintext == text
    assert serving.dep.keyring.versions == [1, 2]
    serving.dep.keyring.refresh()
    assert serving.dep.keyring.current == 2
    serving.create_key()
    with serving.dep.db.read() as tx:
        assert meta.get(tx, "kek_current") == "2"
        assert repo.behind(tx, "key_versions", 2, "", 100) == []


def test_retire_refuses_while_a_row_names_an_old_kek(two) -> None:  # type: ignore[no-untyped-def]
    serving, operator = two
    key_id = serving.create_key().key_id
    blob = _encrypt(serving, key_id, b"kept")
    root = rekey.unlock(operator.dep, _never)
    rekey.rekey(operator.dep, root, settle=0.0)
    # A process that had not yet read the switch wraps a version's material under KEK 1.
    with operator.dep.db.write() as tx:
        row = repo.behind(tx, "key_versions", 0, "", 10)[0]
        plain = operator.dep.keyring.unwrap(2, row.blob, material_aad(key_id, row.row_id, row.names[1], 2))
        stale = aead.seal(
            operator.dep.keyring.export(1), plain, material_aad(key_id, row.row_id, row.names[1], 1)
        )
        assert repo.rewrite(tx, row, 1, stale)
    with pytest.raises(rekey.RekeyRefused, match="key_versions: 1 under version 1"):
        rekey.retire(operator.dep)
    with operator.dep.db.read() as tx:
        assert sorted(meta.wrapped_keks(tx)) == [1, 2]
    # A second rekey re-wraps it; retire then deletes every old KEK and the bridges.
    assert rekey.rekey(operator.dep, root, settle=0.0).target == 3
    assert rekey.retire(operator.dep) == [1, 2]
    with operator.dep.db.read() as tx:
        assert sorted(meta.wrapped_keks(tx)) == [3]
        assert not repo.prefixed(tx, "kek_bridge.")
    assert rekey.retire(operator.dep) == []
    fresh = open_world(operator.dep.settings.data_dir, operator.dep.settings.database, create=False)
    try:
        assert fresh.dep.keyring.versions == [3]
        assert fresh.services.symmetric.decrypt(fresh.scope, blob, {}).plaintext == b"kept"
    finally:
        fresh.close()


def test_import_tokens_and_digests_survive_rekey_and_retire(two) -> None:  # type: ignore[no-untyped-def]
    serving, operator = two
    oaep = "RSAES_OAEP_SHA_256"
    byok = serving.services.byok
    key_id = serving.create_key(origin="EXTERNAL").key_id
    material = b"\x11" * 32
    params = byok.get_parameters_for_import(serving.scope, key_id, "RSA_2048", oaep)
    byok.import_key_material(serving.scope, key_id, wrap(params.public_key, oaep, material), params.token, 0)
    byok.delete_key_material(serving.scope, key_id)  # the digest under KEK 1 is all that is left
    pending = byok.get_parameters_for_import(serving.scope, key_id, "RSA_2048", oaep)
    root = rekey.unlock(operator.dep, _never)
    rekey.rekey(operator.dep, root, settle=0.0)
    with operator.dep.db.read() as tx:
        assert repo.references(tx)["import_tokens"] == {2: 2}
    assert rekey.retire(operator.dep) == [1]
    with operator.dep.db.read() as tx:
        assert list(repo.prefixed(tx, "kek_retained.")) == ["kek_retained.1.openkms/material-digest/v1"]
    fresh = open_world(operator.dep.settings.data_dir, operator.dep.settings.database, create=False)
    try:
        assert fresh.dep.keyring.versions == [2]
        b = fresh.services.byok
        # The token re-wrapped under KEK 2 still opens; other material is refused by the digest
        # kept of KEK 1, the same material taken back.
        other = wrap(pending.public_key, oaep, b"\x22" * 32)
        with pytest.raises(errors.InvalidKeyMaterial):
            b.import_key_material(fresh.scope, key_id, other, pending.token, 0)
        again = b.get_parameters_for_import(fresh.scope, key_id, "RSA_2048", oaep)
        b.import_key_material(fresh.scope, key_id, wrap(again.public_key, oaep, material), again.token, 0)
        blob = fresh.services.symmetric.encrypt(fresh.scope, key_id, b"back", {}).blob
        assert fresh.services.symmetric.decrypt(fresh.scope, blob, {}).plaintext == b"back"
    finally:
        fresh.close()
