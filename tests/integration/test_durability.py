"""Acknowledged writes survive restarts and kill -9; the data directory is private."""

from __future__ import annotations

import os
import stat

from alibabacloud_kms20160120 import models as m

from tests.support.clients import tea_client
from tests.support.server import ServerProcess, run_serve


def test_key_survives_kill9_right_after_create(fresh_server: ServerProcess) -> None:
    """kill -9 immediately after CreateKey answered: the key is there after restart."""
    created = [
        tea_client(fresh_server.endpoint).create_key(m.CreateKeyRequest(description=f"k{i}")).body.key_metadata.key_id
        for i in range(5)
    ]
    fresh_server.kill9()
    fresh_server.port = fresh_server.port  # same port is fine after SIGKILL of the group
    fresh_server.start()
    client = tea_client(fresh_server.endpoint)
    for i, key_id in enumerate(created):
        assert f"k{i}" == client.describe_key(m.DescribeKeyRequest(key_id=key_id)).body.key_metadata.description


def test_data_dir_permissions(fresh_server: ServerProcess) -> None:
    """The data dir and every directory in it are 0700, every file 0600 (the nonce files
    included); the root key is 48 bytes."""
    tea_client(fresh_server.endpoint).create_key(m.CreateKeyRequest())
    assert stat.S_IMODE(fresh_server.data_dir.stat().st_mode) == 0o700
    entries = list(fresh_server.data_dir.rglob("*"))
    if (fresh_server.data_dir / "openkms.db").exists():  # the embedded store: nonce files too
        assert any(e.suffix == ".tbl" for e in entries)
    for entry in entries:
        assert stat.S_IMODE(entry.stat().st_mode) == (0o700 if entry.is_dir() else 0o600), entry.name
    assert (fresh_server.data_dir / "root.key").stat().st_size == 48


def test_refuses_group_readable_root_key(fresh_server: ServerProcess) -> None:
    """A root key file readable by the group stops the server at start, with the reason."""
    fresh_server.stop()
    os.chmod(fresh_server.data_dir / "root.key", 0o640)
    proc = run_serve(*fresh_server.store_args, "--port", "1")
    assert proc.returncode == 1
    assert "must be 0600" in proc.stderr


def test_refuses_foreign_root_key(fresh_server: ServerProcess, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """The database remembers its root key's fingerprint: another key file refuses to start."""
    fresh_server.stop()
    other = tmp_path / "other"
    other.mkdir(mode=0o700)
    from openkms.rootkey.file import create

    create(other / "root.key")
    proc = run_serve(*fresh_server.store_args, "--root-key-file", str(other / "root.key"), "--port", "1")
    assert proc.returncode == 1
    assert "fingerprint mismatch" in proc.stderr


def test_refuses_non_loopback_without_tls(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Plain HTTP on a non-loopback address is refused unless --insecure-http is given."""
    proc = run_serve("--data-dir", str(tmp_path / "d"), "--host", "0.0.0.0")
    assert proc.returncode == 2
    assert "refusing to serve plain HTTP" in proc.stderr


def test_no_secret_in_database_or_logs(fresh_server: ServerProcess) -> None:
    """The root AccessKey secret is stored wrapped: not in the database files nor the server log."""
    from tests.support.server import ACCESS_KEY_SECRET

    tea_client(fresh_server.endpoint).list_keys(m.ListKeysRequest())
    fresh_server.stop()
    for where, data in fresh_server.stored_bytes().items():
        assert ACCESS_KEY_SECRET.encode() not in data, where
    assert ACCESS_KEY_SECRET not in fresh_server.log()
