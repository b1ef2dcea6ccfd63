"""The root key file: atomic race-safe creation, refusal of unsafe or damaged files."""

from __future__ import annotations

import multiprocessing
import os
from pathlib import Path

import pytest

from openkms.crypto import aead
from openkms.rootkey import FileRootKey, Keyring, RootKeyError
from openkms.rootkey.file import create, read
from openkms.rootkey.keyring import material_aad


def _race(path: str, queue: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    queue.put(FileRootKey.load_or_create(Path(path)).fingerprint)


def test_concurrent_first_starts_agree_on_one_key(tmp_path: Path) -> None:
    """Eight processes creating the key file at once all end with the same single key."""
    for trial in range(5):
        d = tmp_path / f"t{trial}"
        d.mkdir(mode=0o700)
        ctx = multiprocessing.get_context("fork")
        queue = ctx.Queue()
        procs = [ctx.Process(target=_race, args=(str(d / "root.key"), queue)) for _ in range(8)]
        for p in procs:
            p.start()
        for p in procs:
            p.join(30)
        prints = {queue.get(timeout=5) for _ in procs}
        assert len(prints) == 1
        assert sorted(os.listdir(d)) == ["root.key"]  # no temp files left behind
        assert (d / "root.key").stat().st_mode & 0o777 == 0o600


@pytest.mark.parametrize(
    ("damage", "reason"),
    [
        (lambda p: os.chmod(p, 0o640), "must be 0600"),
        (lambda p: os.chmod(p, 0o604), "must be 0600"),
        (lambda p: p.write_bytes(p.read_bytes()[:-1]), "truncated"),
        (lambda p: p.write_bytes(b"X" + p.read_bytes()[1:]), "not an openkms root key"),
        (lambda p: p.write_bytes(p.read_bytes()[:20] + bytes([p.read_bytes()[20] ^ 1]) + p.read_bytes()[21:]), "checksum"),
        (lambda p: p.unlink(), "does not exist"),
    ],
)
def test_unsafe_or_damaged_key_file_is_refused(tmp_path: Path, damage, reason: str) -> None:  # type: ignore[no-untyped-def]
    """A group/world-readable, truncated, foreign, bit-flipped or missing key file is refused."""
    path = tmp_path / "root.key"
    create(path)
    damage(path)
    if path.exists():
        os.chmod(path, path.stat().st_mode & 0o777 or 0o600)
    with pytest.raises(RootKeyError) as info:
        read(path)
    assert reason in str(info.value)


def test_wrapped_material_moved_to_another_key_does_not_unwrap(tmp_path: Path) -> None:
    """Material wrapped for key A, copied to key B's row, fails authentication (AAD names the key)."""
    root = FileRootKey.load_or_create(tmp_path / "root.key")
    keyring = Keyring(root, {1: Keyring.new_kek(root, 1)})
    version, blob = keyring.wrap(b"k" * 32, material_aad("key-a", "ver-a", "Aliyun_AES_256", 1))
    assert keyring.unwrap(version, blob, material_aad("key-a", "ver-a", "Aliyun_AES_256", 1)) == b"k" * 32
    for aad in (
        material_aad("key-b", "ver-a", "Aliyun_AES_256", 1),
        material_aad("key-a", "ver-b", "Aliyun_AES_256", 1),
        material_aad("key-a", "ver-a", "Aliyun_SM4", 1),
    ):
        with pytest.raises(aead.NotAuthentic):
            keyring.unwrap(version, blob, aad)


def test_kek_does_not_unwrap_under_another_root(tmp_path: Path) -> None:
    """A KEK wrapped under one root key does not unwrap under another."""
    a = FileRootKey.load_or_create(tmp_path / "a.key")
    b = FileRootKey.load_or_create(tmp_path / "b.key")
    assert a.fingerprint != b.fingerprint
    with pytest.raises(aead.NotAuthentic):
        Keyring(b, {1: Keyring.new_kek(a, 1)})


def test_reprs_hide_key_material(tmp_path: Path) -> None:
    """Neither the provider nor the keyring prints key bytes."""
    root = FileRootKey.load_or_create(tmp_path / "root.key")
    key_bytes = (tmp_path / "root.key").read_bytes()[8:40]
    assert key_bytes.hex() not in repr(root)
    assert "fingerprint" in repr(root)
    assert "versions=[1]" in repr(Keyring(root, {1: Keyring.new_kek(root, 1)}))
