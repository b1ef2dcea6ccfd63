"""Several openkms nodes over one PostgreSQL behave like one node (docs/deployment.md).

Every test here makes its own PostgreSQL database (dropped afterwards) and its own nodes: the
nodes share the database and one root key file and nothing else (each has its own data
directory). The shared PostgreSQL server is never stopped: a node loses its database through a
TCP forwarder the test controls (tests/support/tcpproxy.py).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor, wait
from pathlib import Path
from typing import Any

import pytest
from alibabacloud_kms20160120 import models as m
from alibabacloud_ram20150501 import models as r
from alibabacloud_tea_openapi.exceptions import ClientException
from aliyunsdkkms.request.v20160120.DescribeKeyRequest import DescribeKeyRequest
from sqlalchemy.engine import make_url

from openkms.config import Settings
from openkms.domain import errors
from openkms.rootkey.file import create as create_root_key
from openkms.service.caches import CacheBounds
from openkms.service.context import build_services
from openkms.service.deployment import StartupError, init_deployment, open_deployment
from openkms.service.tenancy import root_scope
from openkms.store import keys as repo
from openkms.store import migrate
from openkms.store import secrets as secret_repo
from openkms.store.engine import make_nullpool_engine
from tests.support.clients import OldClient, RawSigner, http_connection, ram_client, tea_client
from tests.support.keys import new_tea_key
from tests.support.postgres import PostgresDatabase, running_server
from tests.support.server import CLI, ServerProcess, free_port, run_serve
from tests.support.tcpproxy import TcpProxy


@pytest.fixture
def pg() -> Iterator[PostgresDatabase]:
    with PostgresDatabase() as db:
        yield db


def _new_root_key(directory: Path) -> Path:
    directory.mkdir(mode=0o700)
    create_root_key(directory / "root.key")
    return directory / "root.key"


@pytest.fixture
def root_key(tmp_path: Path) -> Path:
    """The root key file every node is given (--root-key-file)."""
    return _new_root_key(tmp_path / "shared")


class Nodes:
    """openkms nodes over one database and one root key, each with its own data directory."""

    def __init__(self, tmp_path: Path, database: str, root_key: Path) -> None:
        self.tmp_path = tmp_path
        self.database = database
        self.root_key = root_key
        self.started: list[ServerProcess] = []

    def add(
        self, *, migrate: bool = False, database: str | None = None, args: tuple[str, ...] = (),
        env: dict[str, str] | None = None,
    ) -> ServerProcess:
        return ServerProcess(
            self.tmp_path / f"node-{time.monotonic_ns()}" / "data", database=database or self.database,
            root_key_file=self.root_key, migrate=migrate, extra_args=list(args), env=env,
        )

    def start(self, *servers: ServerProcess) -> list[ServerProcess]:
        """Start the servers at the same moment (one thread each)."""
        for srv in servers:
            srv.data_dir.parent.mkdir(parents=True, exist_ok=True)
            self.started.append(srv)
        servers[0].ensure_initialised()  # one `openkms init` for the deployment, before any node starts
        with ThreadPoolExecutor(len(servers)) as pool:
            list(pool.map(lambda s: s.start(), servers))
        return list(servers)

    def stop_all(self) -> None:
        for srv in self.started:
            srv.stop()


@pytest.fixture
def nodes(tmp_path: Path, pg: PostgresDatabase, root_key: Path) -> Iterator[Nodes]:
    n = Nodes(tmp_path, pg.url, root_key)
    yield n
    n.stop_all()


@pytest.fixture(scope="module")
def two_nodes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[ServerProcess]]:
    """Two nodes over a schema made by `db upgrade` (as an operator would), started together;
    shared by the tests below that only add keys and credentials of their own."""
    base = tmp_path_factory.mktemp("two-nodes")
    with PostgresDatabase() as db:
        engine = make_nullpool_engine(db.url)
        migrate.upgrade(engine)
        engine.dispose()
        n = Nodes(base, db.url, _new_root_key(base / "shared"))
        try:
            yield n.start(n.add(), n.add())
        finally:
            n.stop_all()


# -- schema and start-up ---------------------------------------------------------------------


def _first_schema_deployment(url: str, root_key: Path) -> None:
    """A deployment as the first schema (revision 0001) held one: fingerprint, account id, KEK."""
    from alembic import command
    from alembic.config import Config
    from sqlalchemy import text

    from openkms.rootkey import FileRootKey, Keyring

    engine = make_nullpool_engine(url)
    cfg = Config()
    cfg.set_main_option("script_location", str(migrate.MIGRATIONS))
    cfg.attributes["engine"] = engine
    command.upgrade(cfg, "0001")
    root = FileRootKey.load(root_key)
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO meta (name, value) VALUES ('root_fingerprint', :f), ('account_id', :a)"),
                     {"f": root.fingerprint, "a": "1234567890123456"})
        conn.execute(text("INSERT INTO keks (kek_version, wrapped, created) VALUES (1, :w, 1.0)"),
                     {"w": Keyring.new_kek(root, 1)})
    engine.dispose()


def test_older_schema_is_refused_and_concurrent_upgrades_migrate_once(
    pg: PostgresDatabase, root_key: Path, tmp_path: Path
) -> None:
    """`serve` refuses a PostgreSQL deployment whose schema is older than the code (the first
    schema's); three `db upgrade` at once all succeed."""
    _first_schema_deployment(pg.url, root_key)
    store = ["--data-dir", str(tmp_path / "d"), "--database", pg.url, "--root-key-file", str(root_key)]
    serve = subprocess.Popen(
        [*CLI, "serve", *store, "--port", str(free_port())], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    check = subprocess.run([*CLI, "db", "check", *store], capture_output=True, timeout=60)
    _, refused = serve.communicate(timeout=60)
    assert serve.returncode == 1
    assert "older than this openkms" in refused
    assert check.returncode == 1

    with pg.connect() as holder:
        # Hold the schema lock until all three are waiting for it, so they then race for real.
        holder.execute("SELECT pg_advisory_lock(%s)", (migrate.ADVISORY_LOCK_KEY,))
        upgrades = [
            subprocess.Popen([*CLI, "db", "upgrade", *store], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            for _ in range(3)
        ]
        _wait_for_waiters(pg, "advisory", 3)
        holder.execute("SELECT pg_advisory_unlock(%s)", (migrate.ADVISORY_LOCK_KEY,))
    errors = [p.communicate(timeout=60)[1] for p in upgrades]
    results = [(p.returncode, err) for p, err in zip(upgrades, errors, strict=True)]
    assert results == [(0, "")] * 3
    engine = make_nullpool_engine(pg.url)
    assert migrate.is_current(engine)
    head = migrate.head_revision(engine)
    engine.dispose()
    with pg.connect() as conn:
        assert conn.execute("SELECT version_num FROM alembic_version").fetchall() == [(head,)]
        assert conn.execute("SELECT count(*) FROM keks").fetchall() == [(1,)]
        assert conn.execute("SELECT count(*) FROM meta WHERE name = 'account_id'").fetchall() == [(1,)]


def test_nodes_starting_together_serve_one_deployment(nodes: Nodes) -> None:
    """Three nodes started at once with --migrate: one migrates, all serve the same account and keys."""
    started = nodes.start(*(nodes.add(migrate=True) for _ in range(3)))
    clients = [tea_client(n.endpoint) for n in started]
    metas = [new_tea_key(c, description=f"from {i}") for i, c in enumerate(clients)]
    assert len({meta.arn.split(":")[3] for meta in metas}) == 1
    for client in clients:
        for i, meta in enumerate(metas):
            assert f"from {i}" == client.describe_key(m.DescribeKeyRequest(key_id=meta.key_id)).body.key_metadata.description


def test_node_with_another_root_key_refuses_to_start(two_nodes: list[ServerProcess], tmp_path: Path) -> None:
    """A node given a different root key file than the deployment's stops at start (fingerprint)."""
    other = _new_root_key(tmp_path / "other")
    settings = Settings(data_dir=tmp_path / "o", database=two_nodes[0].database, root_key_file=other)
    with pytest.raises(StartupError, match="fingerprint mismatch"):
        open_deployment(settings, migrate_schema=False)


def test_unreachable_database_at_start_is_a_clear_refusal(tmp_path: Path, root_key: Path) -> None:
    """A node whose database does not answer exits 1 with the reason, and never prints the password."""
    url = f"postgresql://openkms:Pa55wordNotShown@127.0.0.1:{free_port()}/nothing"
    proc = run_serve("--data-dir", str(tmp_path / "d"), "--database", url, "--root-key-file", str(root_key),
                     "--db-timeout", "2", "--port", str(free_port()))
    assert proc.returncode == 1
    assert "cannot reach the database" in proc.stderr
    assert "Pa55wordNotShown" not in proc.stdout + proc.stderr


# -- shared nonces, keys and credentials -------------------------------------------------------


def test_nonce_used_on_one_node_is_refused_on_another(two_nodes: list[ServerProcess]) -> None:
    """A signed request accepted by node A is SignatureNonceUsed on node B (V1 and V3)."""
    a, b = (RawSigner(n.endpoint) for n in two_nodes)
    query = a.v1_query("ListKeys")
    assert a.send("POST", query).status == 200
    again = b.send("POST", query)
    assert (again.status, again.json()["Code"]) == (400, "SignatureNonceUsed")
    assert b.v3("ListKeys", nonce="pg-shared-v3-nonce").status == 200
    assert a.v3("ListKeys", nonce="pg-shared-v3-nonce").json()["Code"] == "SignatureNonceUsed"


def test_one_request_replayed_at_every_node_at_once_is_served_once(two_nodes: list[ServerProcess]) -> None:
    """The same signed request sent 16 times at once, spread over two nodes, is served exactly once."""
    signers = [RawSigner(n.endpoint) for n in two_nodes]
    query = signers[0].v1_query("ListKeys")
    barrier = threading.Barrier(16)

    def fire(i: int) -> int:
        barrier.wait()
        return signers[i % 2].send("POST", query).status

    with ThreadPoolExecutor(16) as pool:
        statuses = sorted(pool.map(fire, range(16)))
    assert statuses == [200] + [400] * 15


def test_key_state_written_on_one_node_is_read_on_the_other(two_nodes: list[ServerProcess]) -> None:
    """Writes on either node are seen by the other within the staleness bound (heard over
    LISTEN/NOTIFY in milliseconds; at the latest when a kept read reaches its age bound),
    through both SDKs; what a node wrote itself it reads at once."""
    tea_a, tea_b = (tea_client(n.endpoint) for n in two_nodes)
    old_b = OldClient(two_nodes[1].endpoint)
    key_id = new_tea_key(tea_a, description="one").key_id
    assert old_b.call(DescribeKeyRequest(), KeyId=key_id)["KeyMetadata"]["Description"] == "one"
    tea_a.update_key_description(m.UpdateKeyDescriptionRequest(key_id=key_id, description="two"))
    assert tea_a.describe_key(m.DescribeKeyRequest(key_id=key_id)).body.key_metadata.description == "two"
    written = time.monotonic()
    seen = None
    while time.monotonic() < written + CacheBounds.read_max_age + 0.5:
        seen = tea_b.describe_key(m.DescribeKeyRequest(key_id=key_id)).body.key_metadata.description
        if seen == "two":
            break
        time.sleep(0.01)
    assert seen == "two"
    version = tea_b.create_key_version(m.CreateKeyVersionRequest(key_id=key_id)).body.key_version.key_version_id
    assert version == tea_b.describe_key(m.DescribeKeyRequest(key_id=key_id)).body.key_metadata.primary_key_version
    listed = tea_b.list_keys(m.ListKeysRequest(page_size=100)).body.keys.key
    assert key_id in [k.key_id for k in listed]


def test_another_nodes_write_is_heard_within_milliseconds(two_nodes: list[ServerProcess]) -> None:
    """Node B has a key's state in its caches; node A disables the key. B refuses the key
    well before the age bound would have ended its kept read: the write was heard."""
    raw_a, raw_b = (RawSigner(n.endpoint) for n in two_nodes)
    key_id = raw_a.v1("CreateKey", {}).json()["KeyMetadata"]["KeyId"]
    for _ in range(3):  # B keeps the key (its workers may each read it once)
        assert raw_b.v1("Encrypt", {"KeyId": key_id, "Plaintext": "aGk="}).status == 200
    assert raw_a.v1("DisableKey", {"KeyId": key_id}).status == 200
    disabled = time.monotonic()
    while True:
        resp = raw_b.v1("Encrypt", {"KeyId": key_id, "Plaintext": "aGk="})
        if resp.status != 200:
            break
        assert time.monotonic() - disabled < CacheBounds.read_max_age + 0.5
        time.sleep(0.005)
    assert (resp.status, resp.json()["Code"]) == (409, "Rejected.Disabled")
    assert time.monotonic() - disabled < CacheBounds.read_max_age / 2


def test_a_policy_attached_on_one_node_decides_on_the_other(two_nodes: list[ServerProcess]) -> None:
    """A RAM user refused on node B is allowed there once node A attached a policy to it, and
    refused again once A detached it: each within the staleness bound, well before it in
    practice (the writes are heard)."""
    ram_a = ram_client(two_nodes[0].endpoint)
    key_id = new_tea_key(tea_client(two_nodes[0].endpoint)).key_id
    name = f"u-{os.urandom(4).hex()}"
    ram_a.create_user(r.CreateUserRequest(user_name=name))
    pair = ram_a.create_access_key(r.CreateAccessKeyRequest(user_name=name)).body.access_key
    on_b = RawSigner(two_nodes[1].endpoint, ak=pair.access_key_id, secret=pair.access_key_secret)

    def answered_within(expected: int) -> float:
        changed = time.monotonic()
        while True:
            status = on_b.v1("Encrypt", {"KeyId": key_id, "Plaintext": "aGk="}).status
            waited = time.monotonic() - changed
            if status == expected:
                return waited
            assert waited < CacheBounds.read_max_age + 0.5, status
            time.sleep(0.01)

    assert answered_within(403) < 1.0
    policy = {"policy_type": "System", "policy_name": "AliyunKMSCryptoUserAccess", "user_name": name}
    ram_a.attach_policy_to_user(r.AttachPolicyToUserRequest(**policy))
    assert answered_within(200) < CacheBounds.read_max_age / 2
    ram_a.detach_policy_from_user(r.DetachPolicyFromUserRequest(**policy))
    assert answered_within(403) < CacheBounds.read_max_age / 2


def test_disabled_access_key_is_refused_by_every_node_within_the_cache_bound(
    two_nodes: list[ServerProcess],
) -> None:
    """`access-key disable` run against the database is honoured by all nodes within 1 s."""
    store = two_nodes[0].store_args
    akid, secret = two_nodes[0].new_access_key()
    signers = [RawSigner(n.endpoint, ak=akid, secret=secret) for n in two_nodes]
    for raw in signers:  # now both nodes hold the pair, Active, in their caches
        assert raw.v3("ListKeys").status == 200
    subprocess.run([*CLI, "access-key", "disable", akid, *store], check=True, capture_output=True)
    disabled_at = time.monotonic()
    time.sleep(max(0.0, disabled_at + CacheBounds.credential_seconds + 0.05 - time.monotonic()))
    for raw in signers:
        resp = raw.v3("ListKeys")
        assert (resp.status, resp.json()["Code"]) == (403, "Forbidden.AccessKey")


# -- concurrent writers ------------------------------------------------------------------------


def test_racing_writers_on_two_nodes_lose_no_update(two_nodes: list[ServerProcess]) -> None:
    """12 CreateKeyVersion and 12 UpdateKeyDescription racing on one key over two nodes all
    succeed, every version exists afterwards and the key ends as one of them left it."""
    clients = [tea_client(n.endpoint) for n in two_nodes]
    key_id = new_tea_key(clients[0]).key_id
    barrier = threading.Barrier(12)

    def new_version(i: int) -> str:
        barrier.wait()
        body = clients[i % 2].create_key_version(m.CreateKeyVersionRequest(key_id=key_id)).body
        return str(body.key_version.key_version_id)

    def describe_as(i: int) -> str:
        barrier.wait()
        clients[i % 2].update_key_description(m.UpdateKeyDescriptionRequest(key_id=key_id, description=f"d{i}"))
        return f"d{i}"

    with ThreadPoolExecutor(12) as pool:
        versions = list(pool.map(new_version, range(12)))
        descriptions = list(pool.map(describe_as, range(12)))
    listed = clients[1].list_key_versions(m.ListKeyVersionsRequest(key_id=key_id, page_size=100)).body
    assert listed.total_count == 13
    assert set(versions) <= {v.key_version_id for v in listed.key_versions.key_version}
    final = clients[0].describe_key(m.DescribeKeyRequest(key_id=key_id)).body.key_metadata
    assert final.primary_key_version in versions
    assert final.description in descriptions


def test_racing_update_alias_on_two_nodes_ends_on_a_reported_target(two_nodes: list[ServerProcess]) -> None:
    """Twelve UpdateAlias racing over two nodes all succeed; both nodes then resolve the alias
    to the same key, one of those the calls named."""
    clients = [tea_client(n.endpoint) for n in two_nodes]
    targets = [new_tea_key(clients[0]).key_id for _ in range(4)]
    alias = f"alias/race-{time.monotonic_ns()}"
    clients[1].create_alias(m.CreateAliasRequest(alias_name=alias, key_id=targets[0]))
    barrier = threading.Barrier(12)

    def repoint(i: int) -> str:
        barrier.wait()
        clients[i % 2].update_alias(m.UpdateAliasRequest(alias_name=alias, key_id=targets[i % 4]))
        return targets[i % 4]

    with ThreadPoolExecutor(12) as pool:
        named = set(pool.map(repoint, range(12)))
    resolved = {c.describe_key(m.DescribeKeyRequest(key_id=alias)).body.key_metadata.key_id for c in clients}
    assert len(resolved) == 1
    assert resolved <= named


def test_disable_racing_schedule_deletion_on_two_nodes(two_nodes: list[ServerProcess]) -> None:
    """DisableKey on one node racing ScheduleKeyDeletion on the other: the deletion always
    succeeds (it is valid from Enabled and from Disabled), DisableKey succeeds or is refused with
    409 Rejected.StateModifiedFailed, and every key ends PendingDeletion on both nodes."""
    a, b = (tea_client(n.endpoint) for n in two_nodes)
    key_ids = [new_tea_key(a).key_id for _ in range(8)]
    barrier = threading.Barrier(2)

    def disable(key_id: str) -> str:
        barrier.wait()
        try:
            a.disable_key(m.DisableKeyRequest(key_id=key_id))
        except ClientException as exc:
            return f"{exc.status_code} {exc.code}"
        return "ok"

    def schedule(key_id: str) -> str:
        barrier.wait()
        b.schedule_key_deletion(m.ScheduleKeyDeletionRequest(key_id=key_id, pending_window_in_days=7))
        return "ok"

    with ThreadPoolExecutor(2) as pool:
        for key_id in key_ids:
            first = pool.submit(disable, key_id)
            second = pool.submit(schedule, key_id)
            assert second.result() == "ok"
            assert first.result() in ("ok", "409 Rejected.StateModifiedFailed")
    for client in (a, b):
        states = {client.describe_key(m.DescribeKeyRequest(key_id=k)).body.key_metadata.key_state for k in key_ids}
        assert states == {"PendingDeletion"}


def test_racing_put_secret_value_on_two_nodes(two_nodes: list[ServerProcess]) -> None:
    """Eight PutSecretValue racing over two nodes all succeed; both nodes then read the same
    ACSCurrent, one of the versions put, holding its own value, and an ACSPrevious beside it."""
    clients = [tea_client(n.endpoint) for n in two_nodes]
    name = f"race-{time.monotonic_ns()}"
    clients[0].create_secret(m.CreateSecretRequest(secret_name=name, version_id="v0", secret_data="value v0"))
    barrier = threading.Barrier(8)

    def put(i: int) -> str:
        barrier.wait()
        clients[i % 2].put_secret_value(
            m.PutSecretValueRequest(secret_name=name, version_id=f"v{i + 1}", secret_data=f"value v{i + 1}")
        )
        return f"v{i + 1}"

    with ThreadPoolExecutor(8) as pool:
        put_ids = set(pool.map(put, range(8)))
    current = [c.get_secret_value(m.GetSecretValueRequest(secret_name=name)).body for c in clients]
    assert len({(b.version_id, b.secret_data) for b in current}) == 1
    assert current[0].version_id in put_ids
    assert current[0].secret_data == f"value {current[0].version_id}"
    previous = clients[1].get_secret_value(m.GetSecretValueRequest(secret_name=name, version_stage="ACSPrevious")).body
    assert previous.version_id in put_ids | {"v0"}
    assert previous.version_id != current[0].version_id
    assert previous.secret_data == f"value {previous.version_id}"


def test_row_lock_makes_a_second_writer_wait_and_see_the_first(pg: PostgresDatabase, root_key: Path, tmp_path: Path) -> None:
    """A write transaction that reads a key FOR UPDATE waits for the writer holding it, then reads
    that writer's change, so its revision check succeeds instead of losing or refusing."""
    dep = init_deployment(Settings(data_dir=tmp_path / "d", database=pg.url, root_key_file=root_key))[0]
    try:
        key_id = build_services(dep).keys.create(
            key_spec="Aliyun_AES_256", key_usage=None, origin="Aliyun_KMS", protection_level="SOFTWARE",
            description="", enable_automatic_rotation=False, rotation_interval=None, tag_map={},
            account_uid=dep.account_id,
        ).key_id
        second: dict[str, object] = {}

        def other_writer() -> None:
            with dep.db.write() as tx:
                key = repo.get(tx, key_id, lock=True)
                assert key is not None
                second["seen"] = key.description
                second["ok"] = repo.update_key(tx, key_id, expected_revision=key.revision, description="second")

        with dep.db.write() as tx:
            first = repo.get(tx, key_id, lock=True)
            assert first is not None
            thread = threading.Thread(target=other_writer)
            thread.start()
            _wait_for_waiters(pg, "transactionid", 1)
            assert repo.update_key(tx, key_id, expected_revision=first.revision, description="first")
        thread.join(30)
        assert second == {"seen": "first", "ok": True}
        with dep.db.read() as tx:
            final = repo.get(tx, key_id)
        assert final is not None
        assert ("second", first.revision + 2) == (final.description, final.revision)
    finally:
        dep.close()


def test_get_secret_value_reads_one_snapshot(
    pg: PostgresDatabase, root_key: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On PostgreSQL GetSecretValue's reads share one snapshot too (READ COMMITTED would give each
    its own): a secret deleted after its row was read is still answered; reads after that
    are refused, and a second snapshot inside the first is a RuntimeError."""
    dep = init_deployment(Settings(data_dir=tmp_path / "d", database=pg.url, root_key_file=root_key))[0]
    try:
        svc, scope = build_services(dep).secrets, root_scope(dep.account_id)
        svc.create(
            scope,
            name="pg-secret", version_id="v1", data="one", data_type="text", description="",
            encryption_key_id=None, tag_map={}, policy=None,
        )
        svc.put_value(scope, "pg-secret", "v2", "two", "text", ["ACSCurrent"])
        assert [
            svc.get_value(scope, "pg-secret", None, None).data,
            svc.get_value(scope, "pg-secret", None, "ACSPrevious").data,
            svc.get_value(scope, "pg-secret", "v2", "ACSCurrent").data,
        ] == ["two", "one", "two"]
        read_secret = secret_repo.get_secret

        def then_delete(q, account, name, **kwargs):  # type: ignore[no-untyped-def]
            found = read_secret(q, account, name, **kwargs)
            if q is dep.db:
                with pytest.raises(RuntimeError, match="does not nest"), dep.db.snapshot():
                    pass
                svc.delete(scope, name, force=True, window_days=30)  # commits on another connection
            return found

        monkeypatch.setattr(secret_repo, "get_secret", then_delete)
        during = svc.get_value(scope, "pg-secret", None, None)
        monkeypatch.undo()
        assert (during.version_id, during.data, during.stages) == ("v2", "two", ["ACSCurrent"])
        with pytest.raises(errors.ResourceNotFound):
            svc.get_value(scope, "pg-secret", None, None)
    finally:
        dep.close()


def _wait_for_waiters(pg: PostgresDatabase, wait_event: str, count: int) -> None:
    """Return once ``count`` sessions of this database wait for a lock (``advisory``,
    ``transactionid``, ...)."""
    sql = (
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
        " AND wait_event_type = 'Lock' AND wait_event = %s"
    )
    with pg.connect() as conn:
        for _ in range(1200):
            row = conn.execute(sql, (wait_event,)).fetchone()
            if row is not None and row[0] >= count:
                return
            time.sleep(0.025)
    raise AssertionError(f"{count} sessions never waited for a lock ({wait_event})")


def _lease_holder_pid(pg: PostgresDatabase) -> int | None:
    with pg.connect() as conn:
        row = conn.execute("SELECT holder, expires_at FROM leases WHERE name = 'jobs'").fetchone()
    if row is None or row[1] <= time.time():
        return None
    return int(str(row[0]).split(":")[1])


def test_one_node_runs_the_jobs_and_another_takes_over_when_it_dies(nodes: Nodes, pg: PostgresDatabase) -> None:
    """Of two nodes exactly one holds the job lease, steadily; when it is killed -9 the other
    takes the lease within the lease time plus one tick."""
    lease, period = 2.0, 0.25
    env = {"OPENKMS_JOB_LEASE": str(lease), "OPENKMS_JOB_PERIOD": str(period)}
    started = nodes.start(nodes.add(migrate=True, env=env), nodes.add(migrate=True, env=env))
    by_pid = {srv.proc.pid: srv for srv in started if srv.proc is not None}
    holder = None
    for _ in range(400):
        holder = _lease_holder_pid(pg)
        if holder is not None:
            break
        time.sleep(0.025)
    assert holder in by_pid
    for _ in range(12):  # six ticks: the lease stays with its holder, the other never takes it
        time.sleep(period / 2)
        assert _lease_holder_pid(pg) == holder
    survivor = next(pid for pid in by_pid if pid != holder)

    by_pid[holder].kill9()
    killed_at = time.monotonic()
    while _lease_holder_pid(pg) != survivor:
        assert time.monotonic() - killed_at < lease + period + 3.0, "no node took the job lease over"
        time.sleep(0.05)


# -- failure behaviour ------------------------------------------------------------------------


def test_database_outage_answers_503_and_recovers(nodes: Nodes, pg: PostgresDatabase) -> None:
    """A node whose database refuses connections, then hangs, answers 503 ServiceUnavailableTemporary
    within its request timeout each time (a hung wait is cut off and rolled back: the write
    answered 503 leaves nothing behind), and serves again as soon as the database is back."""
    with TcpProxy() as proxy:
        via_proxy = make_url(pg.url).set(port=proxy.port).render_as_string(hide_password=False)
        (node,) = nodes.start(
            nodes.add(migrate=True, database=via_proxy, args=("--db-timeout", "1", "--request-timeout", "2"))
        )
        raw = RawSigner(node.endpoint)
        raw.timeout = 2 + 3  # a node that hangs past its bound fails here, not in a 503 check
        created = raw.v1("CreateKey", {"Description": "before"})
        assert created.status == 200
        key_id = created.json()["KeyMetadata"]["KeyId"]

        proxy.close()  # the database is down: connections refused, open ones reset
        for action, params in (("DescribeKey", {"KeyId": key_id}), ("CreateKey", {}), ("ListKeys", {})):
            resp = raw.v1(action, params)
            assert (resp.status, resp.json()["Code"]) == (503, "ServiceUnavailableTemporary"), action
        proxy.open()
        back = raw.v1("DescribeKey", {"KeyId": key_id})
        assert (back.status, back.json()["KeyMetadata"]["Description"]) == (200, "before")

        proxy.pause()  # the database hangs: connections accepted, nothing answered
        for action, params in (("DescribeKey", {"KeyId": key_id}), ("UpdateKeyDescription", {"KeyId": key_id, "Description": "x"})):
            resp = raw.v1(action, params)
            assert (resp.status, resp.json()["Code"]) == (503, "ServiceUnavailableTemporary"), action
        proxy.resume()
        back = raw.v1("DescribeKey", {"KeyId": key_id})
        # The UpdateKeyDescription answered 503 was cut off the database and rolled back.
        assert (back.status, back.json()["KeyMetadata"]["Description"]) == (200, "before")
        node.stop()


def _ready(node: ServerProcess) -> tuple[int, dict[str, Any]]:
    conn = http_connection(node.endpoint)
    try:
        conn.request("GET", "/ready")
        resp = conn.getresponse()
        return resp.status, json.loads(resp.read())
    finally:
        conn.close()


def _until_ready_is(node: ServerProcess, status: int, within: float) -> dict[str, Any]:
    deadline = time.monotonic() + within
    while True:
        got, body = _ready(node)
        if got == status:
            return body
        assert time.monotonic() < deadline, (got, body)
        time.sleep(0.1)


def test_ready_follows_the_database_away_and_back(nodes: Nodes, pg: PostgresDatabase) -> None:
    """GET /ready answers 200 while the database answers, 503 with the reason within seconds of
    it going away (refusing, then hanging), and 200 again once it is back, without a restart;
    /health stays 200 throughout (liveness asks no database)."""
    with TcpProxy() as proxy:
        via_proxy = make_url(pg.url).set(port=proxy.port).render_as_string(hide_password=False)
        (node,) = nodes.start(nodes.add(migrate=True, database=via_proxy, args=("--db-timeout", "1")))
        assert _ready(node) == (200, {"Status": "ready"})

        proxy.close()  # connections refused, open ones reset
        body = _until_ready_is(node, 503, within=5)
        assert body["Status"] == "not ready" and "database" in body["Reason"]
        health = http_connection(node.endpoint)
        health.request("GET", "/health")
        assert health.getresponse().status == 200
        health.close()
        proxy.open()
        assert _until_ready_is(node, 200, within=5) == {"Status": "ready"}

        proxy.pause()  # the database hangs: the probe is answered anyway, within its bound
        started = time.monotonic()
        _until_ready_is(node, 503, within=5)
        assert time.monotonic() - started < 5
        proxy.resume()
        _until_ready_is(node, 200, within=10)
        node.stop()


# -- several worker processes on one node ---------------------------------------------------


class Pinned:
    """A keep-alive HTTP connection: every request on it is served by the same worker process."""

    def __init__(self, srv: ServerProcess, raw: RawSigner) -> None:
        self.srv = srv
        self.raw = raw
        self.conn = http_connection(srv.endpoint)

    def send(self, query: str) -> tuple[int, dict[str, Any], int]:
        """POST a signed query; (status, body, pid of the worker that served it)."""
        self.conn.request("POST", "/?" + query)
        resp = self.conn.getresponse()
        body = json.loads(resp.read())
        return resp.status, body, _served_by(self.srv, body["RequestId"])

    def call(self, action: str, params: dict[str, str] | None = None) -> tuple[int, dict[str, Any], int]:
        return self.send(self.raw.v1_query(action, params))

    def close(self) -> None:
        self.conn.close()


def _served_by(srv: ServerProcess, request_id: str) -> int:
    """The pid in the request log line of ``request_id`` (the log is written as requests end)."""
    for _ in range(200):
        for line in srv.log_path.read_text(errors="replace").splitlines():
            if line.startswith("{") and request_id in line:
                return int(json.loads(line)["pid"])
        time.sleep(0.025)
    raise AssertionError(f"request {request_id} not in the log")


def _connections_to_two_workers(srv: ServerProcess, raw: RawSigner) -> tuple[Pinned, Pinned]:
    """Two keep-alive connections served by two different worker processes: while the first
    connection's worker is stopped (SIGSTOP), another worker accepts the second connection."""
    first = Pinned(srv, raw)
    worker = first.call("ListKeys")[2]
    for _ in range(40):
        second = Pinned(srv, raw)
        os.kill(worker, signal.SIGSTOP)
        try:
            with ThreadPoolExecutor(1) as pool:
                answer = pool.submit(second.call, "ListKeys")
                # Short of uvicorn's 5 s health check, which would replace a worker stopped longer.
                wait([answer], timeout=3.0)
                os.kill(worker, signal.SIGCONT)
                other = answer.result()[2]
        finally:
            os.kill(worker, signal.SIGCONT)
        if other != worker:
            return first, second
        second.close()  # accepted by the first worker after all (the others were still starting)
        time.sleep(0.1)
    raise AssertionError("no second worker ever accepted a connection")


@pytest.mark.parametrize("kind", ["sqlite", "postgres"])
def test_workers_share_nonces_and_key_state(kind: str, tmp_path: Path) -> None:
    """`serve --workers 2`: a nonce used in one worker process is refused in the other, and a key
    created or changed through one worker is read by the other at once."""
    with running_server(tmp_path / "data", kind, extra_args=["--workers", "2"]) as srv:
        raw = RawSigner(srv.endpoint)
        one, two = _connections_to_two_workers(srv, raw)
        query = raw.v1_query("ListKeys")
        assert one.send(query)[0] == 200
        status, body, _ = two.send(query)
        assert (status, body["Code"]) == (400, "SignatureNonceUsed")

        status, body, _ = two.call("CreateKey", {"Description": "made in worker two"})
        key_id = body["KeyMetadata"]["KeyId"]
        assert one.call("DescribeKey", {"KeyId": key_id})[1]["KeyMetadata"]["Description"] == "made in worker two"
        assert one.call("UpdateKeyDescription", {"KeyId": key_id, "Description": "changed in one"})[0] == 200
        assert two.call("DescribeKey", {"KeyId": key_id})[1]["KeyMetadata"]["Description"] == "changed in one"
        # Encrypt reads key state that a worker keeps between writes (service/caches.py):
        # a change made through the other worker is still seen by the next call.
        encrypt = {"KeyId": key_id, "Plaintext": "aGk="}
        assert one.call("Encrypt", encrypt)[0] == 200
        assert two.call("DisableKey", {"KeyId": key_id})[0] == 200
        status, body, _ = one.call("Encrypt", encrypt)
        assert (status, body["Code"]) == (409, "Rejected.Disabled")
        assert two.call("EnableKey", {"KeyId": key_id})[0] == 200
        assert one.call("Encrypt", encrypt)[0] == 200
        assert one.call("ListKeys")[2] != two.call("ListKeys")[2]
        one.close()
        two.close()


def test_two_nodes_keep_one_audit_chain_each_and_verify_reads_them_all(nodes: Nodes) -> None:
    """Each node (each worker process) appends to its own chain in the shared database; every
    answered call is in one of them; `openkms audit verify` checks them all, and catches an
    event changed in the database."""
    a, b = nodes.start(nodes.add(migrate=True), nodes.add())
    answered = []
    for node in (a, b, a, b):
        answered.append(tea_client(node.endpoint).list_keys(m.ListKeysRequest()).body.request_id)
    a.stop()
    b.stop()
    rows = a.query("SELECT chain, event FROM audit_events")
    by_request = {json.loads(event).get("requestId"): chain for chain, event in rows}
    assert set(answered) <= set(by_request)
    assert len({by_request[r] for r in answered}) == 2  # the two nodes' chains
    done = subprocess.run([*CLI, "audit", "verify", *a.store_args], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and "intact" in done.stdout, done.stdout + done.stderr
    import psycopg

    with psycopg.connect(a.database, autocommit=True) as conn:
        conn.execute("UPDATE audit_events SET event = replace(event, 'ListKeys', 'ListAliases') WHERE seq = 2")
    done = subprocess.run([*CLI, "audit", "verify", *a.store_args], capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "seq 2: modified" in done.stdout
