"""Bring a deployment up: data directory, root of trust, database schema, fingerprint check,
account id, KEK and the root AccessKey. Every step is safe to race with another process
starting on the same data directory, and safe to crash in.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path

from openkms import store
from openkms.config import Settings
from openkms.crypto import aead, selftest
from openkms.domain import ids
from openkms.domain.clock import Clock, SystemClock
from openkms.rootkey import FileRootKey, Keyring, MemoryRootKey, RootKeyError, RootKeyProvider
from openkms.service.nonces import MemoryNonceStore, NonceStore, SQLNonceStore
from openkms.store import Conflict, Database, meta, migrate
from openkms.store import nonces as shared_nonces
from openkms.store.engine import is_sqlite, make_engine, make_nullpool_engine
from openkms.store.nonce_table import FileNonceStore

# The key file is read by every Encrypt at random places once there are many keys: it is read
# through a memory map (no system call per page, see store/engine.py). The map is address
# space; only the pages read count in a process's memory, and the bound holds whatever the
# number of keys.
KEYS_MMAP_BYTES = 256 * 1024 * 1024
# The write generation of a node over PostgreSQL, in its data directory (store/generation.py).
PG_GENERATION_FILE = "pg-generation"

# What a database that cannot be reached, did not answer in time or cannot store more raises
# (the server answers it 503 ServiceUnavailableTemporary); disk_full tells a full disk apart.
DATABASE_UNAVAILABLE = store.UNAVAILABLE
# Raised by a PostgreSQL statement asked for on the event loop (store.Database.forbid_waits).
WouldWait = store.WouldWait
disk_full = store.disk_full
# What the store may fail with at start: the database, or a file of the data directory.
_STORE_FAILURES: tuple[type[BaseException], ...] = (*DATABASE_UNAVAILABLE, OSError)


class StartupError(RuntimeError):
    """The deployment refuses to start; the message says why and what to check."""


@dataclass
class Deployment:
    settings: Settings
    db: Database
    # The replay guard's records: files of the node on the embedded default, a table of the
    # shared database on PostgreSQL (service.nonces).
    nonces: NonceStore
    keyring: Keyring
    account_id: str
    region: str
    clock: Clock

    def close(self) -> None:
        self.db.dispose()
        self.nonces.close()


def _prepare_data_dir(path: Path) -> None:
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    st = path.stat()
    if stat.S_IMODE(st.st_mode) & 0o077:
        raise StartupError(
            f"data directory {path} is accessible by group or others; it must be 0700"
        )


def _restrict_files(path: Path) -> None:
    """Every file in the data dir is 0600 (SQLite creates its -wal/-shm with the umask)."""
    for entry in path.iterdir():
        if entry.is_file() and stat.S_IMODE(entry.stat().st_mode) & 0o077:
            os.chmod(entry, 0o600)


def _meta_setdefault(db: Database, name: str, value: str) -> str:
    """Insert a meta value unless one exists; return the stored value (race-safe)."""
    try:
        with db.write() as tx:
            return meta.setdefault(tx, name, value)
    except Conflict:
        with db.read() as tx:
            stored = meta.get(tx, name)
        assert stored is not None
        return stored


def _prepare_schema(db: Database, settings: Settings, migrate_schema: bool) -> None:
    """Upgrade (or check) the schema and create the nonce table (PostgreSQL), under the schema
    lock."""
    url = settings.database_url
    # Migrations and waits for another node's migration are not bound by the statement timeout.
    schema_engine = db.engine if is_sqlite(url) else make_nullpool_engine(url, timeout=settings.db_timeout)

    # The nonce table of a PostgreSQL deployment is made under the schema lock too.
    create_nonces = None if is_sqlite(url) else shared_nonces.create_table
    try:
        state = migrate.schema_state(db.engine)
        if state == "newer":
            raise StartupError(
                "the database schema is newer than this openkms (upgraded by a later version); "
                "run that version"
            )
        if migrate_schema:
            migrate.upgrade(schema_engine, then=create_nonces)
            return
        if state != "current":
            raise StartupError(
                "the database schema is older than this openkms; run `openkms db upgrade` "
                "(or start one node with `serve --migrate`)"
            )
        with migrate.schema_lock(schema_engine):
            if create_nonces is not None:
                create_nonces(schema_engine)
    finally:
        if schema_engine is not db.engine:
            schema_engine.dispose()


def open_deployment(
    settings: Settings, clock: Clock | None = None, *, migrate_schema: bool = True
) -> Deployment:
    """Open (creating on first start) the deployment described by ``settings``.

    Raises:
        StartupError: unsafe permissions, a root key that does not match the database,
            a failed self-test, a database that cannot be reached (within ``db_timeout``), a
            full disk (the data directory's or the database's), a schema newer than this code,
            or one older when ``migrate_schema`` is off.
    """
    clock = clock or SystemClock()
    try:
        selftest.run()
    except selftest.SelfTestFailed as exc:
        raise StartupError(str(exc)) from exc

    url = settings.database_url
    if is_sqlite(url) or settings.root_key_file is None:
        _prepare_data_dir(settings.data_dir)
    old_umask = os.umask(0o077)
    try:
        try:
            root = FileRootKey.load_or_create(settings.root_key_path)
        except RootKeyError as exc:
            raise StartupError(str(exc)) from exc

        db = Database(
            make_engine(
                url,
                synchronous="FULL",
                timeout=settings.db_timeout,
                mmap_size=KEYS_MMAP_BYTES if is_sqlite(url) else None,
            ),
            generation=_pg_generation(settings),
        )
        try:
            _prepare_schema(db, settings, migrate_schema)
            if is_sqlite(url):
                _restrict_files(settings.data_dir)
            nonce_store = _open_nonces(settings, db)
        except BaseException:
            db.dispose()
            raise
    except _STORE_FAILURES as exc:
        refusal = _refusal(exc)
        if refusal is None:
            raise
        raise refusal from exc
    finally:
        os.umask(old_umask)
    try:
        return _bind(settings, clock, root, db, nonce_store)
    except BaseException as exc:
        db.dispose()
        nonce_store.close()
        refusal = _refusal(exc)
        if refusal is None:
            raise
        raise refusal from exc


def _refusal(exc: BaseException) -> StartupError | None:
    """The refusal to start for a store that failed: a full disk is said to be one (its remedy
    is not that of a database that is down), any other database failure is one out of reach;
    None for anything else."""
    if isinstance(exc, OSError) and store.disk_full(exc):
        where = f": {exc.filename}" if exc.filename else ""
        return StartupError(f"the disk is full ({exc.strerror}){where}")
    if not isinstance(exc, DATABASE_UNAVAILABLE):
        return None
    if store.disk_full(exc):
        return StartupError(f"the database's disk is full ({store.reason(exc)})")
    return StartupError(f"cannot reach the database: {store.reason(exc)}")


def open_in_memory(clock: Clock | None = None, settings: Settings | None = None) -> Deployment:
    """A deployment held in this process only: an in-memory SQLite database (one thread at a
    time), a random :class:`~openkms.rootkey.MemoryRootKey` and nonces in a dict. Nothing is
    written to disk and nothing survives :meth:`Deployment.close`; for tests and tools that need
    the services without a data directory.
    """
    settings = settings or Settings(database="sqlite://")
    db = Database(make_engine("sqlite://"))
    migrate.upgrade(db.engine)
    return _bind(settings, clock or SystemClock(), MemoryRootKey(), db, MemoryNonceStore())


def _pg_generation(settings: Settings) -> Path | None:
    """Where the node's processes over PostgreSQL share their write generation: in the data
    directory, if there is one (without it nothing read is kept, service/caches.py)."""
    if is_sqlite(settings.database_url) or not settings.data_dir.is_dir():
        return None
    return settings.data_dir / PG_GENERATION_FILE


def _open_nonces(settings: Settings, db: Database) -> NonceStore:
    """The node's nonce files on the embedded default, else the shared database's table."""
    if not is_sqlite(settings.database_url):
        return SQLNonceStore(db, timeout=settings.db_timeout)
    return FileNonceStore(settings.data_dir / "nonces")


def _bind(
    settings: Settings, clock: Clock, root: RootKeyProvider, db: Database, nonces: NonceStore
) -> Deployment:
    """Check the root key against the database; create the account id and first KEK."""
    # The fingerprint binds this database to this root key: a swapped key file, a database
    # restored under another install's key, or a copied database all stop here.
    stored = _meta_setdefault(db, "root_fingerprint", root.fingerprint)
    if stored != root.fingerprint:
        raise StartupError(
            "the root key does not match this database (fingerprint mismatch): "
            "wrong --root-key-file, or a database restored under another key"
        )
    account_id = _meta_setdefault(db, "account_id", ids.new_account_id())

    try:
        with db.write() as tx:
            if not meta.any_kek(tx):
                meta.insert_kek(tx, 1, Keyring.new_kek(root, 1), clock.now())
    except Conflict:
        pass
    with db.read() as tx:
        wrapped = meta.wrapped_keks(tx)
    try:
        keyring = Keyring(root, wrapped)
    except aead.NotAuthentic as exc:
        raise StartupError("the key-encryption key does not unwrap under this root key") from exc

    return Deployment(settings, db, nonces, keyring, account_id, settings.region, clock)
