"""Rekey and root rotation under load, with kill -9 injected at every step (R5): a server serves
Encrypt, Decrypt and CreateKey through the Tea SDK while `openkms operator rekey` (or
`rotate-root`) runs in another process and is killed after each step commits; a re-run finishes
the job, every ciphertext acknowledged before or during it decrypts, `--retire` leaves only the
current KEK, and `openkms audit verify` passes."""

from __future__ import annotations

import os
import pty
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.calls import SDK, ApiError
from tests.support.server import CLI, ServerProcess, running

FAULTS = [sys.executable, "-m", "tests.support.rekey_faults"]
KILLED = -9


def _operator(srv: ServerProcess, *args: str, kill_at: str | None = None) -> subprocess.CompletedProcess[str]:
    env = dict(srv.env)
    if kill_at is not None:
        env["OPENKMS_TEST_KILL_AT"] = kill_at
    return subprocess.run(
        [*FAULTS, "operator", *args, *srv.store_args], env=env, capture_output=True, text=True, timeout=180
    )


def _cli(srv: ServerProcess, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CLI, *args, *srv.store_args], env=srv.env, capture_output=True, text=True, timeout=120
    )


class Load:
    """Encrypt (and every seventh time CreateKey) in a loop through the Tea SDK; every ciphertext the
    server acknowledged is kept with its plaintext."""

    def __init__(self, sdk: SDK, key_ids: list[str]) -> None:
        self.sdk = sdk
        self.key_ids = list(key_ids)
        self.acknowledged: list[tuple[str, str]] = []
        self.errors: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Load:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(30)

    def _run(self) -> None:
        n = 0
        while not self._stop.is_set():
            n += 1
            try:
                if n % 7 == 0:
                    self.key_ids.append(self.sdk.call("CreateKey")["KeyMetadata"]["KeyId"])
                key_id = self.key_ids[n % len(self.key_ids)]
                plain = f"message {n}"
                blob = self.sdk.call("Encrypt", KeyId=key_id, Plaintext=plain)["CiphertextBlob"]
                self.acknowledged.append((blob, plain))
                earlier, text = self.acknowledged[n // 2]
                assert self.sdk.call("Decrypt", CiphertextBlob=earlier)["Plaintext"] == text
            except (ApiError, AssertionError) as exc:
                self.errors.append(repr(exc))


def _all_decrypt(sdk: SDK, acknowledged: list[tuple[str, str]]) -> None:
    for blob, plain in acknowledged:
        assert sdk.call("Decrypt", CiphertextBlob=blob)["Plaintext"] == plain


def _keks(srv: ServerProcess) -> list[int]:
    return sorted(int(r[0]) for r in srv.query("SELECT kek_version FROM keks"))


def _meta(srv: ServerProcess, name: str) -> str | None:
    rows = srv.query(f"SELECT value FROM meta WHERE name = '{name}'")
    return str(rows[0][0]) if rows else None


@pytest.fixture
def node(tmp_path: Path) -> Iterator[ServerProcess]:
    srv = ServerProcess(tmp_path / "data")
    with running(srv):
        yield srv


@pytest.fixture
def workers(tmp_path: Path) -> Iterator[ServerProcess]:
    """A node of two worker processes: each keyring takes up the new KEK on its own."""
    srv = ServerProcess(tmp_path / "data", extra_args=["--workers", "2"])
    with running(srv):
        yield srv


def test_rekey_killed_at_every_step_under_load_loses_nothing(workers: ServerProcess) -> None:
    srv = workers
    sdk = SDK("tea", srv.endpoint)
    key_ids = [sdk.call("CreateKey")["KeyMetadata"]["KeyId"] for _ in range(8)]
    before = [(sdk.call("Encrypt", KeyId=k, Plaintext="before")["CiphertextBlob"], "before") for k in key_ids]
    rekey = ("rekey", "--batch", "2", "--settle", "6", "--quiet")
    with Load(sdk, key_ids) as load:
        killed = _operator(srv, *rekey, kill_at="added")
        assert killed.returncode == KILLED, killed.stderr
        assert _keks(srv) == [1, 2] and _meta(srv, "kek_current") == "1" and _meta(srv, "rekey_target") == "2"

        killed = _operator(srv, *rekey, kill_at="switched")
        assert killed.returncode == KILLED, killed.stderr
        assert _meta(srv, "kek_current") == "2" and _keks(srv) == [1, 2]

        killed = _operator(srv, *rekey, kill_at="batch:2")
        assert killed.returncode == KILLED, killed.stderr
        versions = {int(r[0]) for r in srv.query("SELECT kek_version FROM key_versions")}
        assert 2 in versions

        refused = _operator(srv, "rekey", "--retire-only")
        assert refused.returncode == 1 and "rekey is under way" in refused.stderr
        assert _keks(srv) == [1, 2]

        done = _operator(srv, *rekey)
        assert done.returncode == 0, done.stderr
        assert "KEK version 2 is current" in done.stdout
    assert not load.errors, load.errors[:5]
    assert len(load.acknowledged) > 10
    assert _meta(srv, "rekey_target") is None
    assert {int(r[0]) for r in srv.query("SELECT kek_version FROM key_versions")} == {2}
    assert {int(r[0]) for r in srv.query("SELECT kek_version FROM access_keys")} == {2}
    _all_decrypt(sdk, before + load.acknowledged)

    killed = _operator(srv, "rekey", "--retire-only", kill_at="retired")
    assert killed.returncode == KILLED, killed.stderr
    assert _keks(srv) == [2]
    again = _operator(srv, "rekey", "--retire-only")
    assert again.returncode == 0 and "retired KEK versions: none" in again.stdout, again.stderr
    assert _meta(srv, "kek_bridge.2") is None

    # A process started after the retire holds only KEK 2 (and the retired one's audit subkey).
    srv.restart()
    sdk = SDK("tea", srv.endpoint)
    _all_decrypt(sdk, before + load.acknowledged)
    assert sdk.call("Encrypt", KeyId=key_ids[0], Plaintext="after")["CiphertextBlob"]
    srv.stop()
    verified = _cli(srv, "audit", "verify")
    assert verified.returncode == 0, verified.stdout + verified.stderr


def test_rotate_root_killed_between_steps_finishes_on_rerun(node: ServerProcess) -> None:
    srv = node
    sdk = SDK("tea", srv.endpoint)
    key_id = sdk.call("CreateKey")["KeyMetadata"]["KeyId"]
    kept = [(sdk.call("Encrypt", KeyId=key_id, Plaintext="kept")["CiphertextBlob"], "kept")]
    old_key = (srv.data_dir / "root.key").read_bytes()
    old_fingerprint = _meta(srv, "root_fingerprint")
    with Load(sdk, [key_id]) as load:
        killed = _operator(srv, "rotate-root", kill_at="staged")
        assert killed.returncode == KILLED, killed.stderr
        assert (srv.data_dir / "root.key.next").exists()
        assert _meta(srv, "root_fingerprint") == old_fingerprint
        assert _meta(srv, "root_next_fingerprint") not in (None, old_fingerprint)

        killed = _operator(srv, "rotate-root", kill_at="switched")
        assert killed.returncode == KILLED, killed.stderr
        assert _meta(srv, "root_fingerprint") != old_fingerprint
        assert (srv.data_dir / "root.key").read_bytes() == old_key  # the rename is still to do

        finished = _operator(srv, "rotate-root")
        assert finished.returncode == 0, finished.stderr
        assert "rotation that stopped was finished" in finished.stdout
    assert not load.errors, load.errors[:5]
    assert not (srv.data_dir / "root.key.next").exists()
    assert (srv.data_dir / "root.key").read_bytes() != old_key
    assert (srv.data_dir / "root.key").stat().st_mode & 0o777 == 0o600
    assert _meta(srv, "root_next_fingerprint") is None

    again = _operator(srv, "rotate-root")  # a whole rotation, over the rotated root
    assert again.returncode == 0, again.stderr
    srv.restart()
    sdk = SDK("tea", srv.endpoint)
    _all_decrypt(sdk, kept + load.acknowledged)
    srv.stop()
    verified = _cli(srv, "audit", "verify")
    assert verified.returncode == 0, verified.stdout + verified.stderr


def test_migrate_root_is_offline_and_moves_between_providers(node: ServerProcess, tmp_path: Path) -> None:
    srv = node
    sdk = SDK("tea", srv.endpoint)
    key_id = sdk.call("CreateKey")["KeyMetadata"]["KeyId"]
    blob = sdk.call("Encrypt", KeyId=key_id, Plaintext="moved")["CiphertextBlob"]
    pw = tmp_path / "pw"
    pw.write_text("correct horse battery staple\n")
    refused = _operator(srv, "migrate-root", "--to", "passphrase", "--new-passphrase-file", str(pw))
    assert refused.returncode == 1 and "offline" in refused.stderr
    srv.stop()

    killed = _operator(
        srv, "migrate-root", "--to", "passphrase", "--new-passphrase-file", str(pw), kill_at="switched"
    )
    assert killed.returncode == KILLED, killed.stderr
    assert _meta(srv, "root_provider") == "passphrase"
    assert (srv.data_dir / "root.key").exists()  # removed by the re-run
    rerun = _operator(srv, "migrate-root", "--to", "passphrase", "--passphrase-file", str(pw))
    assert rerun.returncode == 0, rerun.stderr
    assert not (srv.data_dir / "root.key").exists()

    back = _operator(srv, "migrate-root", "--to", "file", "--passphrase-file", str(pw))
    assert back.returncode == 0, back.stderr
    assert _meta(srv, "root_provider") == "file" and _meta(srv, "root_sealed") is None
    srv.start()
    assert SDK("tea", srv.endpoint).call("Decrypt", CiphertextBlob=blob)["Plaintext"] == "moved"


def _shares(text: str, tmp_path: Path, tag: str) -> list[str]:
    files = []
    for n, line in enumerate(t for t in text.splitlines() if t.startswith("share ")):
        f = tmp_path / f"{tag}-{n}"
        f.write_text(line.split(": ", 1)[1] + "\n")
        files.append(str(f))
    return files


def test_rotate_root_of_sealed_providers_replaces_passphrase_and_shares(tmp_path: Path) -> None:
    srv = ServerProcess(tmp_path / "data")
    made = subprocess.run(
        [*CLI, "init", *srv.store_args, "--root-provider", "shamir", "--shares", "3", "--threshold", "2"],
        env=srv.env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert made.returncode == 0, made.stderr
    old = [str(tmp_path / f"old-{n}") for n in range(2)]
    for f, share in zip(old, [w for w in made.stdout.split() if w.startswith("okshare1-")], strict=False):
        Path(f).write_text(share + "\n")
    share_args = [a for f in old for a in ("--share-file", f)]

    killed = _operator(srv, "rotate-root", *share_args, kill_at="staged")  # shares shown, not switched
    assert killed.returncode == KILLED
    rotated = _operator(srv, "rotate-root", *share_args, "--shares", "4", "--threshold", "3")
    assert rotated.returncode == 0, rotated.stderr
    new = _shares(rotated.stdout, tmp_path, "new")
    assert len(new) == 4
    refused = _operator(srv, "rekey", "--settle", "0", *share_args)
    assert refused.returncode == 1 and "another share set" in refused.stderr
    new_args = [a for f in new[:3] for a in ("--share-file", f)]
    pw = tmp_path / "pw"
    pw.write_text("correct horse battery staple\n")
    moved = _operator(srv, "migrate-root", "--to", "passphrase", "--new-passphrase-file", str(pw), *new_args)
    assert moved.returncode == 0, moved.stderr
    pw2 = tmp_path / "pw2"
    pw2.write_text("a second passphrase, as long\n")
    rotated = _operator(srv, "rotate-root", "--passphrase-file", str(pw), "--new-passphrase-file", str(pw2))
    assert rotated.returncode == 0, rotated.stderr
    refused = _operator(srv, "rekey", "--settle", "0", "--passphrase-file", str(pw))
    assert refused.returncode == 1 and "wrong passphrase" in refused.stderr
    done = _operator(srv, "rekey", "--settle", "0", "--retire", "--passphrase-file", str(pw2))
    assert done.returncode == 0, done.stderr
    assert _keks(srv) == [2]


def test_rekey_shows_a_progress_bar_on_a_terminal_only(tmp_path: Path) -> None:
    srv = ServerProcess(tmp_path / "data")
    srv.init()
    main, terminal = pty.openpty()
    try:
        shown = subprocess.run(
            [*CLI, "operator", "rekey", "--settle", "0", *srv.store_args],
            env=srv.env,
            stdout=subprocess.PIPE,
            stderr=terminal,
            text=True,
            timeout=60,
        )
        os.close(terminal)
        seen = b""
        while True:
            try:
                chunk = os.read(main, 4096)
            except OSError:
                break
            if not chunk:
                break
            seen += chunk
    finally:
        os.close(main)
    assert shown.returncode == 0
    assert b"re-wrapping [" in seen and b"] 1/1" in seen
    piped = _cli(srv, "operator", "rekey", "--settle", "0")
    assert piped.returncode == 0 and "re-wrapping" not in piped.stderr
    assert "KEK version 3 is current" in piped.stdout
