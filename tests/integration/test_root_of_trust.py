"""The root of trust through ``openkms serve``: a damaged key file, a
database restored under another install's key, or only the database copied to a fresh install
refuse to start with a clear message and exit code 1, so nothing is served and nothing decrypts.
The database together with its key file decrypts everything.

What a DB-only copy does, stated: `serve` finds no root key file and refuses; `init` refuses to
make one over a database that holds a deployment; a root key file of another install beside it
meets the database bound to another key's fingerprint and is refused. With the fingerprint row
deleted from the copy it still refuses, because the key-encryption keys do not unwrap under the
other root. There is no state in which it serves.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess
from pathlib import Path

import pytest

from openkms.rootkey.file import create as create_root_key
from tests.support.calls import SDK
from tests.support.keys import new_key
from tests.support.server import ServerProcess, run_init, run_serve, running

FINGERPRINT = "the root key does not match this database (fingerprint mismatch)"


def _serve(data_dir: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    """Run `openkms serve` as a process, expecting it to refuse (it would otherwise fail on port 1)."""
    return run_serve("--data-dir", str(data_dir), "--port", "1", *extra)


def _serve_here(data_dir: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> tuple[int, str]:
    """`openkms serve` in this process (the same code path, without a second interpreter start):
    its exit code and stderr. Serving at all is a failure."""
    import uvicorn

    from openkms import cli

    def served(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("openkms started serving")

    monkeypatch.setattr(uvicorn, "run", served)
    for name in ("OPENKMS_DATA_DIR", "OPENKMS_ROOT_KEY_FILE", "OPENKMS_DATABASE"):
        monkeypatch.delenv(name, raising=False)
    capsys.readouterr()
    code = cli.main(["serve", "--data-dir", str(data_dir), "--port", "1"])
    return code, capsys.readouterr().err


def _database_only_copy(srv: ServerProcess, tmp_path: Path) -> Path:
    """A fresh data dir (tmp_path/fresh) holding only a copy of ``srv``'s openkms.db."""
    fresh = tmp_path / "fresh"
    fresh.mkdir(mode=0o700)
    shutil.copy2(srv.data_dir / "openkms.db", fresh / "openkms.db")
    return fresh


@pytest.fixture(scope="module")
def install(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str, str]:
    """A stopped install (its data dir) with a key and a ciphertext of it; tests work on copies."""
    with running(ServerProcess(tmp_path_factory.mktemp("install") / "data")) as srv:
        sdk = SDK("tea", srv.endpoint)
        key_id = new_key(sdk)
        blob = sdk.call("Encrypt", KeyId=key_id, Plaintext="only with the key file")["CiphertextBlob"]
    return srv.data_dir, key_id, blob


@pytest.fixture
def used(install: tuple[Path, str, str], tmp_path: Path) -> tuple[ServerProcess, str, str]:
    """A private copy of the install, not started."""
    data_dir, key_id, blob = install
    shutil.copytree(data_dir, tmp_path / "data")
    return ServerProcess(tmp_path / "data"), key_id, blob


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda b: b[:20], "is truncated or not an openkms root key"),
        (lambda b: b"", "is truncated or not an openkms root key"),
        (lambda b: b + b"\x00", "is truncated or not an openkms root key"),
        (lambda b: b[:20] + bytes([b[20] ^ 1]) + b[21:], "is damaged (checksum mismatch)"),
        (lambda b: b"NOTOURS1" + b[8:], "is truncated or not an openkms root key"),
    ],
    ids=["truncated", "empty", "extended", "bit-flipped", "wrong-magic"],
)
def test_damaged_root_key_file_refuses_to_start(used: tuple[ServerProcess, str, str], damage, message: str,  # type: ignore[no-untyped-def]
                                                 capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    """A truncated, empty, extended, bit-flipped or foreign-format key file: exit 1 naming the file and the fault."""
    srv, _, _ = used
    path = srv.data_dir / "root.key"
    path.write_bytes(damage(path.read_bytes()))
    code, err = _serve_here(srv.data_dir, capsys, monkeypatch)
    assert (1, f"cannot start: root key file {path} {message}") == (code, json.loads(err)["message"])


def test_truncated_root_key_file_stops_the_process(used: tuple[ServerProcess, str, str]) -> None:
    """As a real process: `openkms serve` on a truncated key file exits 1 with the reason, no traceback."""
    srv, _, _ = used
    path = srv.data_dir / "root.key"
    path.write_bytes(path.read_bytes()[:47])
    proc = _serve(srv.data_dir)
    assert proc.returncode == 1
    event = json.loads(proc.stderr)  # one log line
    assert (event["level"], event["message"]) == (
        "error", f"cannot start: root key file {path} is truncated or not an openkms root key"
    )


def test_database_only_copied_to_a_fresh_install_refuses_to_start(used: tuple[ServerProcess, str, str], tmp_path: Path,
                                                                  capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    """Only openkms.db copied into an empty data dir: the new install refuses (fingerprint mismatch), exit 1 (S12)."""
    fresh = _database_only_copy(used[0], tmp_path)
    proc = _serve(fresh)
    assert proc.returncode == 1
    assert f"root key file {fresh / 'root.key'} does not exist" in proc.stderr
    assert not (fresh / "root.key").exists()  # serve made no key of its own
    init = run_init("--data-dir", str(fresh))  # nor does init over the copied deployment
    assert (init.returncode, "holds a deployment already" in init.stderr) == (1, True)
    create_root_key(fresh / "root.key")  # another install's key beside the copy
    code, err = _serve_here(fresh, capsys, monkeypatch)
    assert (code, FINGERPRINT in err) == (1, True)


def test_copied_database_without_its_fingerprint_still_refuses(used: tuple[ServerProcess, str, str], tmp_path: Path,
                                                               capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    """Deleting the fingerprint row from the copy does not help: the KEK does not unwrap, exit 1 (S12)."""
    fresh = _database_only_copy(used[0], tmp_path)
    create_root_key(fresh / "root.key")
    conn = sqlite3.connect(fresh / "openkms.db")
    with conn:
        assert conn.execute("DELETE FROM meta WHERE name = 'root_fingerprint'").rowcount == 1
    conn.close()
    code, err = _serve_here(fresh, capsys, monkeypatch)
    assert code == 1
    assert "the key-encryption key does not unwrap under this root key" in err


def test_database_restored_into_another_install_refuses_to_start(used: tuple[ServerProcess, str, str], tmp_path: Path,
                                                                 capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    """A database restored over another install's (which keeps its own key file): exit 1, fingerprint mismatch (R3)."""
    srv, _, _ = used
    other = ServerProcess(tmp_path / "other")
    other.start()  # another install, with its own root key and database
    other.stop()
    for leftover in ("openkms.db-wal", "openkms.db-shm"):
        (other.data_dir / leftover).unlink(missing_ok=True)
    shutil.copy2(srv.data_dir / "openkms.db", other.data_dir / "openkms.db")
    code, err = _serve_here(other.data_dir, capsys, monkeypatch)
    assert code == 1
    assert FINGERPRINT in err


def test_database_with_its_key_file_decrypts_everything(used: tuple[ServerProcess, str, str], tmp_path: Path) -> None:
    """The control: the database and its root key file copied together serve and decrypt (S12)."""
    srv, key_id, blob = used
    moved = ServerProcess(tmp_path / "moved")
    moved.data_dir.mkdir(mode=0o700)
    for name in ("openkms.db", "root.key"):
        shutil.copy2(srv.data_dir / name, moved.data_dir / name)
    with running(moved):
        for name in ("tea", "old"):
            opened = SDK(name, moved.endpoint).call("Decrypt", CiphertextBlob=blob)
            assert (key_id, "only with the key file") == (opened["KeyId"], opened["Plaintext"])
