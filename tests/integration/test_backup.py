"""`openkms backup` under write load and `openkms restore`: every ciphertext acknowledged before
the backup began decrypts on a node started from the restore; the restore refuses a non-empty
directory, another root key and a wrong passphrase; a damaged database does not start."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import tarfile
import tempfile
import threading
import time
from pathlib import Path

import pytest
from alibabacloud_kms20160120 import models as m
from alibabacloud_tea_openapi.exceptions import ClientException

from openkms.rootkey.file import create as create_root_key
from openkms.store.snapshot import contents
from tests.support.clients import tea_client
from tests.support.server import CLI, ServerProcess, run_serve

PASSPHRASE = "correct horse battery staple"


def _run(*args: str, passphrase: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "OPENKMS_BACKUP_PASSPHRASE"}
    if passphrase is not None:
        env["OPENKMS_BACKUP_PASSPHRASE"] = passphrase
    return subprocess.run(
        [*CLI, *args], capture_output=True, text=True, timeout=120, env=env, stdin=subprocess.DEVNULL
    )


@pytest.fixture
def node(tmp_path: Path):  # type: ignore[no-untyped-def]
    """A node over the embedded store (whatever backend the suite runs)."""
    srv = ServerProcess(tmp_path / "node")
    srv.start()
    try:
        yield srv
    finally:
        srv.stop()


def _encrypt_one(srv: ServerProcess, text: str) -> tuple[str, str]:
    client = tea_client(srv.endpoint)
    key_id = client.create_key(m.CreateKeyRequest()).body.key_metadata.key_id
    blob = client.encrypt(m.EncryptRequest(key_id=key_id, plaintext=text)).body.ciphertext_blob
    return key_id, blob


def test_backup_under_write_load_restores_every_acknowledged_ciphertext(
    node: ServerProcess, tmp_path: Path
) -> None:
    """Four threads CreateKey+Encrypt while `openkms backup` runs. Every pair acknowledged
    before the backup started decrypts on a node started from the restore; none acknowledged
    after it ended is there (the snapshot is of one commit inside the backup's run); those
    acknowledged during it may or may not be."""
    acked: list[tuple[float, str, str, str]] = []  # (acknowledged at, key id, blob, plaintext)
    lock = threading.Lock()
    stop = threading.Event()
    errors: list[BaseException] = []

    def writer(n: int) -> None:
        client = tea_client(node.endpoint)
        i = 0
        while not stop.is_set():
            text = f"w{n}-{i}"
            try:
                key_id = client.create_key(m.CreateKeyRequest()).body.key_metadata.key_id
                blob = client.encrypt(m.EncryptRequest(key_id=key_id, plaintext=text)).body.ciphertext_blob
            except BaseException as exc:
                errors.append(exc)
                return
            with lock:
                acked.append((time.monotonic(), key_id, blob, text))
            i += 1

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    try:
        while len(acked) < 120 and not errors:
            time.sleep(0.05)
        began = time.monotonic()
        out = tmp_path / "node.backup"
        proc = _run("backup", "--out", str(out), *node.store_args)
        ended = time.monotonic()
        time.sleep(0.5)  # more writes after the backup, which must not be in it
    finally:
        stop.set()
        for t in threads:
            t.join(30)
    assert not errors, errors
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.count("pages") >= 2, proc.stderr  # the progress line, step by step
    before = [a for a in acked if a[0] < began]
    after = [a for a in acked if a[0] > ended]
    assert len(before) >= 120 and after
    assert stat.S_IMODE(out.stat().st_mode) == 0o600

    with tarfile.open(out) as tar:
        assert sorted(tar.getnames()) == ["manifest.json", "openkms.db"]  # no root key asked for
        manifest = json.loads(tar.extractfile("manifest.json").read())  # type: ignore[union-attr]
    assert len(before) <= manifest["keys"] <= len(acked) - len(after)
    assert manifest["accounts"] == 1 and manifest["root_included"] is False
    assert (
        manifest["root_fingerprint"]
        == node.query("SELECT value FROM meta WHERE name = 'root_fingerprint'")[0][0]
    )

    restored_dir = tmp_path / "restored"
    root = node.data_dir / "root.key"
    proc = _run("restore", str(out), "--data-dir", str(restored_dir), "--root-key-file", str(root))
    assert proc.returncode == 0, proc.stderr
    assert stat.S_IMODE(restored_dir.stat().st_mode) == 0o700
    assert stat.S_IMODE((restored_dir / "openkms.db").stat().st_mode) == 0o600
    node.stop()
    restored = ServerProcess(restored_dir, root_key_file=root)
    restored.start()
    try:
        client = tea_client(restored.endpoint)
        for _, _, blob, text in before:
            assert client.decrypt(m.DecryptRequest(ciphertext_blob=blob)).body.plaintext == text
        for _, key_id, _, _ in after:
            with pytest.raises(ClientException) as refused:
                client.describe_key(m.DescribeKeyRequest(key_id=key_id))
            assert refused.value.code == "Forbidden.KeyNotFound"
    finally:
        restored.stop()


def test_include_root_round_trip(node: ServerProcess, tmp_path: Path) -> None:
    """--include-root seals the root key under the passphrase; a restore with it writes the key
    (0600) and the node starts and decrypts; a wrong passphrase or none restores nothing."""
    _, blob = _encrypt_one(node, "sealed root")
    out = tmp_path / "with-root.backup"
    short = _run("backup", "--out", str(out), "--include-root", *node.store_args, passphrase="short")
    assert short.returncode == 2 and not out.exists()
    proc = _run("backup", "--out", str(out), "--include-root", *node.store_args, passphrase=PASSPHRASE)
    assert proc.returncode == 0, proc.stderr
    with tarfile.open(out) as tar:
        sealed = tar.extractfile("root.key.sealed").read()  # type: ignore[union-attr]
    assert (node.data_dir / "root.key").read_bytes()[8:40] not in sealed

    target = tmp_path / "restored"
    wrong = _run("restore", str(out), "--data-dir", str(target), passphrase=PASSPHRASE + "!")
    assert wrong.returncode == 1 and "passphrase" in wrong.stderr
    assert not target.exists()
    none = _run("restore", str(out), "--data-dir", str(target))
    assert none.returncode != 0 and not target.exists()

    proc = _run("restore", str(out), "--data-dir", str(target), passphrase=PASSPHRASE)
    assert proc.returncode == 0, proc.stderr
    assert (target / "root.key").read_bytes() == (node.data_dir / "root.key").read_bytes()
    assert stat.S_IMODE((target / "root.key").stat().st_mode) == 0o600
    node.stop()
    restored = ServerProcess(target)
    restored.start()
    try:
        plain = tea_client(restored.endpoint).decrypt(m.DecryptRequest(ciphertext_blob=blob)).body.plaintext
        assert plain == "sealed root"
    finally:
        restored.stop()


def test_restore_refusals(node: ServerProcess, tmp_path: Path) -> None:
    """A non-empty directory, another root key, a backup without its root key and no
    --root-key-file, a file that is no backup: each refused, nothing left behind."""
    out = tmp_path / "plain.backup"
    assert _run("backup", "--out", str(out), *node.store_args).returncode == 0
    again = _run("backup", "--out", str(out), *node.store_args)
    assert again.returncode == 1 and "exists" in again.stderr
    nowhere = _run("backup", "--out", str(tmp_path / "no" / "such.backup"), *node.store_args)
    assert nowhere.returncode == 1 and "not a directory" in nowhere.stderr

    busy = tmp_path / "busy"
    busy.mkdir(mode=0o700)
    (busy / "something").write_text("x")
    proc = _run(
        "restore", str(out), "--data-dir", str(busy), "--root-key-file", str(node.data_dir / "root.key")
    )
    assert proc.returncode == 1 and "not an empty directory" in proc.stderr
    assert sorted(p.name for p in busy.iterdir()) == ["something"]

    other = tmp_path / "other"
    other.mkdir(mode=0o700)
    create_root_key(other / "root.key")
    target = tmp_path / "target"
    proc = _run("restore", str(out), "--data-dir", str(target), "--root-key-file", str(other / "root.key"))
    assert proc.returncode == 1 and "fingerprint mismatch" in proc.stderr
    assert not target.exists()

    proc = _run("restore", str(out), "--data-dir", str(target))
    assert proc.returncode == 1 and "holds no root key" in proc.stderr
    assert not target.exists()

    junk = tmp_path / "junk.backup"
    junk.write_bytes(b"not a tar file" * 100)
    proc = _run("restore", str(junk), "--data-dir", str(target), "--root-key-file", str(other / "root.key"))
    assert proc.returncode == 1 and "not an openkms backup" in proc.stderr
    assert not target.exists()


def test_node_refuses_a_damaged_database(node: ServerProcess) -> None:
    """A database whose pages are torn (as a copy taken while a checkpoint rewrote them) fails
    the quick_check at start: `serve` refuses with the reason."""
    for i in range(30):
        _encrypt_one(node, f"k{i}")
    node.stop()
    db = node.data_dir / "openkms.db"
    assert not (node.data_dir / "openkms.db-wal").exists()  # a clean stop checkpointed it all
    data = bytearray(db.read_bytes())
    page = int.from_bytes(data[16:18], "big")
    middle = (len(data) // page // 2) * page
    data[middle : middle + page] = os.urandom(page)
    db.write_bytes(bytes(data))
    proc = run_serve(*node.store_args, "--port", "1")
    assert proc.returncode == 1
    assert "is damaged" in proc.stderr, proc.stderr


def test_backup_of_postgres_is_refused(tmp_path: Path) -> None:
    """A PostgreSQL deployment is pg_dump's: the command says so and writes nothing."""
    out = tmp_path / "pg.backup"
    proc = _run(
        "backup",
        "--out",
        str(out),
        "--data-dir",
        str(tmp_path),
        "--database",
        "postgresql://127.0.0.1/nothing",
    )
    assert proc.returncode == 1 and "pg_dump" in proc.stderr
    assert not out.exists()


def _copy_database_only(srv: ServerProcess, to: Path) -> ServerProcess:
    """``cp openkms.db`` (and the root key) into a fresh data directory, as an operator might."""
    to.mkdir(mode=0o700)
    for name in ("openkms.db", "root.key"):
        shutil.copy2(srv.data_dir / name, to / name)
    return ServerProcess(to)


def test_a_plain_copy_taken_while_serving_is_refused(node: ServerProcess, tmp_path: Path) -> None:
    """The copy is sound (it passes quick_check) but lacks the keys still in the -wal: `serve`
    refuses it, naming `openkms backup`; a copy after a clean stop starts and has every key."""
    made = [_encrypt_one(node, f"k{i}") for i in range(5)]
    assert (node.data_dir / "openkms.db-wal").exists()
    copy = _copy_database_only(node, tmp_path / "copy")
    assert snapshot_keys(copy.data_dir / "openkms.db") < 5  # the keys are in the -wal
    proc = run_serve(*copy.store_args, "--port", "1")
    assert proc.returncode == 1, proc.stderr
    assert "copied while a server had it open" in proc.stderr and "openkms backup" in proc.stderr

    node.stop()
    after_stop = _copy_database_only(node, tmp_path / "after-stop")
    assert snapshot_keys(after_stop.data_dir / "openkms.db") == 5
    after_stop.start()
    try:
        client = tea_client(after_stop.endpoint)
        for key_id, blob in made:
            assert client.decrypt(m.DecryptRequest(ciphertext_blob=blob)).body.key_id == key_id
    finally:
        after_stop.stop()


def test_a_crashed_node_starts_again_with_its_wal(node: ServerProcess, tmp_path: Path) -> None:
    """kill -9 leaves the -wal beside the file: the next start replays it. A command run in
    between (here a backup) that checkpoints the log clears the mark, so the start goes on."""
    key_id, blob = _encrypt_one(node, "before the crash")
    node.kill9()
    assert (node.data_dir / "openkms.db-wal").exists()
    assert _run("backup", "--out", str(tmp_path / "after-crash.backup"), *node.store_args).returncode == 0
    assert not (node.data_dir / "openkms.db-wal").exists()
    node.start()
    assert tea_client(node.endpoint).decrypt(m.DecryptRequest(ciphertext_blob=blob)).body.key_id == key_id
    node.kill9()
    node.start()  # the -wal of this crash, no command in between
    assert tea_client(node.endpoint).decrypt(m.DecryptRequest(ciphertext_blob=blob)).body.key_id == key_id


def snapshot_keys(path: Path) -> int:
    """Keys in the main database file alone (what a copy without the -wal holds)."""
    with tempfile.TemporaryDirectory() as scratch:
        alone = Path(scratch) / "alone.db"
        shutil.copy2(path, alone)
        return contents(alone).keys
