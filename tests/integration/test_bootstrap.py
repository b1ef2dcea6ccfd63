"""The explicit bootstrap through the `openkms` command: `serve` and the offline commands refuse a
directory without a deployment (and create nothing there), `init` runs once, and a root AccessKey
deleted stays deleted across restarts. `openkms ram` manages identities offline."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from alibabacloud_kms20160120 import models as kms

from tests.support.clients import tea_client
from tests.support.sdk_errors import tea_error
from tests.support.server import (
    ACCESS_KEY_ID,
    ACCESS_KEY_SECRET,
    CLI,
    ServerProcess,
    run_init,
    run_serve,
    running,
)


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENKMS_")}
    return subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=60, env=env)


def test_serve_without_init_refuses_and_says_so(tmp_path: Path) -> None:
    """`serve` on a new directory exits 1 naming what is missing and `openkms init`; it creates
    no directory, database or root key."""
    proc = run_serve("--data-dir", str(tmp_path / "data"), "--port", "1")
    assert proc.returncode == 1
    assert "no deployment" in proc.stderr
    assert "openkms init" in proc.stderr
    assert not (tmp_path / "data").exists()


def test_offline_commands_on_a_wrong_directory_create_nothing(tmp_path: Path) -> None:
    """`access-key list`, `ram user list` and `db upgrade` pointed at a directory without a
    deployment exit 1 with the reason and leave it empty."""
    wrong = tmp_path / "wrong"
    wrong.mkdir(mode=0o700)
    for args in (("access-key", "list"), ("ram", "user", "list"), ("db", "upgrade")):
        proc = _cli(*args, "--data-dir", str(wrong))
        assert (proc.returncode, "openkms init" in proc.stderr) == (1, True), proc.stderr
    assert list(wrong.iterdir()) == []


def test_init_prints_a_generated_root_access_key_once_and_refuses_a_second_run(tmp_path: Path) -> None:
    """Without the environment's pair, init prints a new AccessKeyId and secret; a second init is
    refused (exit 1) and prints no secret."""
    data = tmp_path / "data"
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENKMS_")}
    first = run_init("--data-dir", str(data), env=env)
    assert first.returncode == 0, first.stderr
    assert "AccessKeyId:" in first.stdout and "AccessKeySecret:" in first.stdout
    second = run_init("--data-dir", str(data), env=env)
    assert (second.returncode, "holds a deployment already" in second.stderr) == (1, True)
    assert "AccessKeySecret" not in second.stdout + second.stderr


def test_a_deleted_root_access_key_is_not_minted_again_on_restart(tmp_path: Path) -> None:
    """The root AccessKey deleted offline: a restart serves, mints no pair (the environment's pair
    is still set), and the deleted pair is 404 InvalidAccessKeyId.NotFound."""
    srv = ServerProcess(tmp_path / "data")
    with running(srv):
        assert tea_client(srv.endpoint).list_keys(kms.ListKeysRequest()).body.total_count == 0
    subprocess.run(
        [*CLI, "access-key", "delete", ACCESS_KEY_ID, *srv.store_args], check=True, capture_output=True
    )
    with running(srv):
        listed = subprocess.run(
            [*CLI, "access-key", "list", *srv.store_args], check=True, capture_output=True, text=True
        )
        assert listed.stdout == ""
        assert srv.query("SELECT count(*) FROM access_keys") == [(0,)]
        assert tea_error(lambda: tea_client(srv.endpoint).list_keys(kms.ListKeysRequest())) == (
            "InvalidAccessKeyId.NotFound",
            404,
        )


def test_ram_offline_commands_make_a_user_whose_access_key_signs(tmp_path: Path) -> None:
    """`openkms ram user create`, `access-key create --user`, `policy attach`: the user's pair
    signs KMS calls; RAM's codes come back on refusal."""
    srv = ServerProcess(tmp_path / "data")
    srv.ensure_initialised()
    store = srv.store_args
    assert _cli("ram", "user", "create", "ops", *store).returncode == 0
    made = _cli("ram", "access-key", "create", "--user", "ops", *store)
    akid = made.stdout.split("AccessKeyId:")[1].split()[0]
    secret = made.stdout.split("AccessKeySecret:")[1].split()[0]
    attach = _cli(
        "ram", "policy", "attach", "AliyunKMSFullAccess", "--type", "System", "--user", "ops", *store
    )
    assert attach.returncode == 0, attach.stderr
    listed = _cli("ram", "policy", "list-for", "--user", "ops", *store)
    assert listed.stdout.split("\t")[:2] == ["System", "AliyunKMSFullAccess"]
    refused = _cli("ram", "user", "delete", "ops", *store)
    assert (refused.returncode, refused.stderr.split(":")[1].strip()) == (1, "DeleteConflict.User.AccessKey")
    with running(srv):
        as_user = tea_client(srv.endpoint, "v3", akid, secret)
        assert as_user.create_key(kms.CreateKeyRequest()).body.key_metadata.key_id
        root = tea_client(srv.endpoint, "v3", ACCESS_KEY_ID, ACCESS_KEY_SECRET)
        assert root.list_keys(kms.ListKeysRequest()).body.total_count == 1
