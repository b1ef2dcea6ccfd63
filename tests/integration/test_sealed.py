"""Sealed start through ``openkms serve`` and the official SDKs (S19): a passphrase or Shamir
deployment serves nothing that needs a key until `openkms operator unseal`; a wrong passphrase
or share set leaves it sealed; `operator seal` seals it again; a node started with another
provider refuses; `--root-key-file` pointing nowhere creates nothing."""

from __future__ import annotations

import hashlib
import json
import subprocess
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.calls import SDK, ApiError
from tests.support.clients import http_connection
from tests.support.postgres import PostgresDatabase
from tests.support.server import CLI, ServerProcess, run_serve, running

PASSPHRASE = "correct horse battery staple"


def _init(srv: ServerProcess, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CLI, "init", *srv.store_args, *args], env=srv.env, capture_output=True, text=True, timeout=60
    )


def _operator(srv: ServerProcess, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CLI, "operator", *args, "--data-dir", str(srv.data_dir)], capture_output=True, text=True, timeout=60
    )


def _get(srv: ServerProcess, path: str) -> tuple[int, dict[str, str]]:
    try:
        with urllib.request.urlopen(f"{srv.url.rstrip('/')}{path}", timeout=5) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def _refused_sealed(srv: ServerProcess) -> None:
    """Both SDKs get 503 ServiceUnavailableTemporary saying sealed, for a key operation."""
    for name in ("tea", "old"):
        with pytest.raises(ApiError) as caught:
            SDK(name, srv.endpoint).call("CreateKey")
        assert (caught.value.status, caught.value.code) == (503, "ServiceUnavailableTemporary"), name
        assert "sealed" in caught.value.message


def _serves(srv: ServerProcess) -> str:
    """Both SDKs create a key and round-trip a ciphertext; one ciphertext to keep."""
    blob = ""
    for name in ("tea", "old"):
        sdk = SDK(name, srv.endpoint)
        key_id = sdk.call("CreateKey")["KeyMetadata"]["KeyId"]
        blob = sdk.call("Encrypt", KeyId=key_id, Plaintext="kept")["CiphertextBlob"]
        assert sdk.call("Decrypt", CiphertextBlob=blob)["Plaintext"] == "kept"
    return blob


def _metrics(srv: ServerProcess) -> str:
    conn = http_connection(srv.endpoint)
    try:
        conn.request("GET", "/metrics")
        return conn.getresponse().read().decode()
    finally:
        conn.close()


def _sealed_gauge(srv: ServerProcess) -> float:
    [line] = [x for x in _metrics(srv).splitlines() if x.startswith("openkms_sealed{")]
    return float(line.rsplit(" ", 1)[1])


@pytest.fixture
def passphrase_node(tmp_path: Path) -> Iterator[ServerProcess]:
    srv = ServerProcess(tmp_path / "data")
    (tmp_path / "pw").write_text(PASSPHRASE + "\n")
    made = _init(srv, "--root-provider", "passphrase", "--passphrase-file", str(tmp_path / "pw"))
    assert made.returncode == 0, made.stderr
    assert not (srv.data_dir / "root.key").exists()
    with running(srv):
        yield srv


def test_passphrase_node_starts_sealed_and_serves_after_unseal(passphrase_node: ServerProcess, tmp_path: Path) -> None:
    srv = passphrase_node
    assert _get(srv, "/health") == (200, {"Status": "sealed"})
    assert _get(srv, "/ready") == (503, {"Status": "not ready", "Reason": "sealed"})
    assert "openkms_sealed{pid=" in _metrics(srv) and _sealed_gauge(srv) == 1
    _refused_sealed(srv)

    (tmp_path / "wrong").write_text("not the passphrase at all\n")
    wrong = _operator(srv, "unseal", "--passphrase-file", str(tmp_path / "wrong"))
    assert wrong.returncode == 1 and "wrong passphrase" in wrong.stdout
    _refused_sealed(srv)

    right = _operator(srv, "unseal", "--passphrase-file", str(tmp_path / "pw"))
    assert right.returncode == 0, right.stdout + right.stderr
    assert _get(srv, "/health") == (200, {"Status": "ok"})
    assert _get(srv, "/ready")[0] == 200
    assert _sealed_gauge(srv) == 0
    blob = _serves(srv)

    sealed = _operator(srv, "seal")
    assert sealed.returncode == 0 and "sealed" in sealed.stdout
    _refused_sealed(srv)
    with pytest.raises(ApiError):
        SDK("tea", srv.endpoint).call("Decrypt", CiphertextBlob=blob)

    assert _operator(srv, "unseal", "--passphrase-file", str(tmp_path / "pw")).returncode == 0
    assert SDK("old", srv.endpoint).call("Decrypt", CiphertextBlob=blob)["Plaintext"] == "kept"
    assert _operator(srv, "status").returncode == 0


def test_node_started_with_another_provider_refuses(passphrase_node: ServerProcess) -> None:
    srv = passphrase_node
    proc = run_serve(*srv.store_args, "--root-provider", "file", "--port", "1")
    assert proc.returncode == 1
    assert "root of trust is the passphrase provider" in proc.stderr and "root_provider=file" in proc.stderr
    assert not (srv.data_dir / "root.key").exists()


def _tampered(share: str) -> str:
    """The share with one byte of its value changed and its check recomputed: well formed, wrong."""
    body = share.rsplit("-", 1)[0]
    head, y = body.rsplit("-", 1)
    y = f"{int(y[:2], 16) ^ 1:02x}{y[2:]}"
    body = f"{head}-{y}"
    return f"{body}-{hashlib.sha256(body.encode()).hexdigest()[:8]}"


def test_shamir_node_with_two_workers_unseals_with_a_threshold_of_good_shares(tmp_path: Path) -> None:
    srv = ServerProcess(tmp_path / "data", extra_args=["--workers", "2"])
    shares_dir = tmp_path / "shares"
    made = _init(srv, "--root-provider", "shamir", "--shares", "3", "--threshold", "2", "--share-dir", str(shares_dir))
    assert made.returncode == 0, made.stderr
    files = sorted(shares_dir.iterdir())
    assert len(files) == 3 and all(f.stat().st_mode & 0o777 == 0o600 for f in files)
    shares = [f.read_text().strip() for f in files]
    (tmp_path / "bad").write_text(_tampered(shares[0]))
    with running(srv):
        _refused_sealed(srv)
        status = _operator(srv, "status")
        assert status.stdout.count("process ") == 2, status.stdout + status.stderr

        # A tampered share and a good one: the set does not recombine, the node stays sealed.
        assert _operator(srv, "unseal", "--share-file", str(tmp_path / "bad")).returncode == 0
        wrong = _operator(srv, "unseal", "--share-file", str(files[1]))
        assert wrong.returncode == 1 and "do not recombine" in wrong.stdout
        _refused_sealed(srv)

        # A mistyped share is refused on its own check.
        (tmp_path / "typo").write_text(shares[2][:-1] + ("0" if shares[2][-1] != "0" else "1"))
        typo = _operator(srv, "unseal", "--share-file", str(tmp_path / "typo"))
        assert typo.returncode == 1 and "mistyped" in typo.stdout

        first = _operator(srv, "unseal", "--share-file", str(files[2]))
        assert first.returncode == 0 and "1 of 2" in first.stdout
        _refused_sealed(srv)
        second = _operator(srv, "unseal", "--share-file", str(files[0]))
        assert second.returncode == 0 and second.stdout.count(": unsealed (shamir)") == 2, second.stdout
        for _ in range(4):  # several connections: whichever worker takes each serves
            _serves(srv)


def test_typo_root_key_file_creates_nothing(tmp_path: Path) -> None:
    srv = ServerProcess(tmp_path / "data")
    srv.init()
    typo = tmp_path / "no-such-dir-typo.key"
    init = subprocess.run(
        [*CLI, "init", "--data-dir", str(srv.data_dir), "--root-key-file", str(typo)],
        env=srv.env, capture_output=True, text=True, timeout=60,
    )
    assert init.returncode == 1 and "holds a deployment already" in init.stderr
    serve = run_serve("--data-dir", str(srv.data_dir), "--root-key-file", str(typo), "--port", "1")
    assert serve.returncode == 1 and f"root key file {typo} does not exist" in serve.stderr
    assert not typo.exists()


def test_passphrase_deployment_backs_up_and_restores_with_its_sealed_root(
    passphrase_node: ServerProcess, tmp_path: Path
) -> None:
    """The sealed root travels in the database: a restore needs no key file, and the restored
    node starts sealed and opens under the same passphrase."""
    srv = passphrase_node
    assert _operator(srv, "unseal", "--passphrase-file", str(tmp_path / "pw")).returncode == 0
    blob = _serves(srv)
    backup = tmp_path / "node.backup"
    made = subprocess.run([*CLI, "backup", "--out", str(backup), *srv.store_args], capture_output=True, text=True, timeout=60)
    assert made.returncode == 0, made.stderr
    restored = ServerProcess(tmp_path / "restored")
    back = subprocess.run([*CLI, "restore", str(backup), "--data-dir", str(restored.data_dir)], capture_output=True, text=True, timeout=60)
    assert back.returncode == 0, back.stderr
    assert not (restored.data_dir / "root.key").exists()
    with running(restored):
        _refused_sealed(restored)
        assert _operator(restored, "unseal", "--passphrase-file", str(tmp_path / "pw")).returncode == 0
        assert SDK("tea", restored.endpoint).call("Decrypt", CiphertextBlob=blob)["Plaintext"] == "kept"


def test_offline_commands_ask_for_the_passphrase(tmp_path: Path) -> None:
    """`openkms access-key create` over a sealed deployment unseals its own copy from what it is
    given (a pipe here: no terminal), and refuses a wrong passphrase."""
    srv = ServerProcess(tmp_path / "data")
    (tmp_path / "pw").write_text(PASSPHRASE + "\n")
    assert _init(srv, "--root-provider", "passphrase", "--passphrase-file", str(tmp_path / "pw")).returncode == 0

    def create(stdin: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*CLI, "access-key", "create", *srv.store_args], input=stdin, capture_output=True, text=True,
            timeout=60, start_new_session=True,  # no controlling terminal: getpass reads the pipe
        )

    wrong = create("not the passphrase\n")
    assert wrong.returncode == 1 and "wrong passphrase" in wrong.stderr
    right = create(PASSPHRASE + "\n")
    assert right.returncode == 0, right.stderr
    assert "AccessKeyId:" in right.stdout


def test_postgres_nodes_share_the_sealed_root_and_unseal_each_on_its_own(tmp_path: Path) -> None:
    """Two nodes over one PostgreSQL database, no key file: the sealed root is in the shared
    meta table; unsealing one leaves the other sealed; each serves once unsealed."""
    (tmp_path / "pw").write_text(PASSPHRASE + "\n")
    with PostgresDatabase() as pg:
        a = ServerProcess(tmp_path / "a" / "data", database=pg.url)
        b = ServerProcess(tmp_path / "b" / "data", database=pg.url, migrate=False)
        for node in (a, b):
            node.data_dir.parent.mkdir(parents=True)
        made = _init(a, "--root-provider", "passphrase", "--passphrase-file", str(tmp_path / "pw"))
        assert made.returncode == 0, made.stderr
        with running(a), running(b):
            _refused_sealed(a)
            _refused_sealed(b)
            assert _operator(a, "unseal", "--passphrase-file", str(tmp_path / "pw")).returncode == 0
            blob = _serves(a)
            _refused_sealed(b)
            assert _operator(b, "unseal", "--passphrase-file", str(tmp_path / "pw")).returncode == 0
            assert SDK("old", b.endpoint).call("Decrypt", CiphertextBlob=blob)["Plaintext"] == "kept"
