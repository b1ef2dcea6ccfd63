"""Create a deployment (:func:`init_deployment`, what `openkms init` runs) and open an existing
one (:func:`open_deployment`: data directory, root of trust, database schema, fingerprint check,
account id, KEK).

Creating is explicit and happens once: the root key file, the schema and then, in one
transaction, the root key's fingerprint, the first account, the first KEK and the account's
root AccessKey. A crash before that transaction commits leaves no deployment (init may run
again); two inits racing over one database leave exactly one. Opening never creates any of it:
a directory or database without a deployment is refused with what is missing and how to make
one, so a wrong ``--data-dir`` creates nothing and a deleted root AccessKey stays deleted.
"""

from __future__ import annotations

import hmac
import os
import stat
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from openkms import store
from openkms.config import Hidden, Settings
from openkms.crypto import aead, selftest
from openkms.domain import ids
from openkms.domain.clock import Clock, SystemClock
from openkms.rootkey import Keyring, MemoryRootKey, RootKeyProvider
from openkms.rootkey.keyring import access_key_aad
from openkms.service import keks
from openkms.service.nonces import MemoryNonceStore, NonceStore, SQLNonceStore
from openkms.service.roots import DEFAULT_PROVIDER, PROVIDERS, InitRequest, Provider, RootError
from openkms.service.seal import Seal, UnsealRefused
from openkms.store import Conflict, Database, access_keys, accounts, meta, migrate, snapshot
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


# What every refusal to open a directory or database without a deployment ends with.
INIT_HINT = "create a deployment with `openkms init` (same --data-dir/--database/--root-key-file)"


class StartupError(RuntimeError):
    """The deployment refuses to start; the message says why and what to check."""


class AlreadyInitialised(StartupError):
    """`openkms init` over a directory or database that holds a deployment already."""


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
    # Whether this process holds the keyring's KEKs (service/seal.py); None: a seal over
    # ``keyring`` with nothing to unseal.
    seal: Seal | None = None

    def __post_init__(self) -> None:
        if self.seal is None:
            self.seal = Seal(self.keyring, "memory", None, lambda root: None)

    @property
    def sealed(self) -> bool:
        return self.keyring.is_sealed

    def close(self) -> None:
        self.db.dispose()
        self.nonces.close()


def _prepare_data_dir(path: Path, *, create: bool) -> None:
    if create:
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
    elif not path.is_dir():
        raise StartupError(f"no deployment: data directory {path} does not exist; {INIT_HINT}")
    st = path.stat()
    if stat.S_IMODE(st.st_mode) & 0o077:
        raise StartupError(f"data directory {path} is accessible by group or others; it must be 0700")


def _restrict_files(path: Path) -> None:
    """Every file in the data dir is 0600 (SQLite creates its -wal/-shm with the umask)."""
    for entry in path.iterdir():
        if entry.is_file() and stat.S_IMODE(entry.stat().st_mode) & 0o077:
            os.chmod(entry, 0o600)


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
    settings: Settings,
    clock: Clock | None = None,
    *,
    migrate_schema: bool = True,
    check_integrity: bool = False,
) -> Deployment:
    """Open the existing deployment described by ``settings``; create nothing.

    Raises:
        StartupError: no deployment there (no data directory, database, schema, root key file
            or deployment record: the message names what is missing and `openkms init`),
            unsafe permissions, a root key that does not match the database, a failed
            self-test, a database that cannot be reached (within ``db_timeout``), a full disk
            (the data directory's or the database's), a schema newer than this code, or one
            older when ``migrate_schema`` is off; with ``check_integrity``, an embedded
            database that fails SQLite's quick_check (:func:`check_database`).
    """
    clock = clock or SystemClock()
    _self_test()
    url = settings.database_url
    if is_sqlite(url):
        _prepare_data_dir(settings.data_dir, create=False)
        database_file = settings.data_dir / "openkms.db"
        if not database_file.exists():
            raise StartupError(f"no deployment: {database_file} does not exist; {INIT_HINT}")
        if check_integrity:
            check_database(database_file)
    # A key file present is checked before the store is opened: opening makes the data
    # directory's files 0600, which would hide a key file left readable by others.
    key_file: RootKeyProvider | None = None
    if settings.root_provider in (None, "file") and settings.root_key_path.exists():
        try:
            key_file = PROVIDERS["file"].start(settings, {})
        except RootError as exc:
            raise StartupError(str(exc)) from exc
    db, nonce_store = _open_store(settings, migrate_schema, require_schema=True)
    try:
        with db.read() as tx:
            records = meta.values(tx)
            started = meta.any_kek(tx)
        stored = records.get("root_fingerprint")
        account_id = records.get("account_id")
        if stored is None and account_id is None and not started:
            raise StartupError(f"no deployment in {_where(settings)}; {INIT_HINT}")
        name, provider = _recorded_provider(settings, records)
        try:
            root = key_file if name == "file" and key_file is not None else provider.start(settings, records)
        except RootError as exc:
            if name == "file" and not settings.root_key_path.exists():
                raise StartupError(f"{exc}; {INIT_HINT}") from exc
            raise StartupError(str(exc)) from exc
        keyring = Keyring.sealed()
        load = _loader(db, keyring, stored)
        if root is not None:
            try:
                load(root)
            except UnsealRefused as exc:
                raise StartupError(str(exc)) from exc
        if account_id is None:
            raise StartupError(f"the deployment in {_where(settings)} has no account; {INIT_HINT}")
        seal = Seal(keyring, name, provider.unsealer(records), load)
        return Deployment(settings, db, nonce_store, keyring, account_id, settings.region, clock, seal)
    except BaseException as exc:
        db.dispose()
        nonce_store.close()
        refusal = _refusal(exc)
        if refusal is not None:
            raise refusal from exc
        raise


def _recorded_provider(settings: Settings, records: dict[str, str]) -> tuple[str, Provider]:
    """The deployment's root-of-trust provider (a deployment that records none is ``file``);
    a node told another refuses, naming both."""
    name = records.get("root_provider", DEFAULT_PROVIDER)
    if settings.root_provider is not None and settings.root_provider != name:
        raise StartupError(
            f"this deployment's root of trust is the {name} provider; this node was started with "
            f"root_provider={settings.root_provider} (give --root-provider {name}, or none)"
        )
    provider = PROVIDERS.get(name)
    if provider is None:
        raise StartupError(
            f"this deployment's root of trust is the {name} provider, which this openkms lacks"
        )
    return name, provider


def _loader(
    db: Database, keyring: Keyring, fingerprint: str | None, *, follow: bool = True
) -> Callable[[RootKeyProvider], None]:
    """What puts the deployment's KEKs, unwrapped under a root, into ``keyring``: at start (a
    root with nothing to unseal) or at unseal. The root must be the one the database records
    (its fingerprint binds this database to this root: a swapped key file, a database restored
    under another install's key, or a copied database all stop here). ``follow``: the keyring
    takes up KEKs a rekey adds while it serves (service/keks.py)."""

    def load(root: RootKeyProvider) -> None:
        if fingerprint is not None and not hmac.compare_digest(fingerprint, root.fingerprint):
            raise UnsealRefused(
                "the root key does not match this database (fingerprint mismatch): "
                "wrong --root-key-file, or a database restored under another key"
            )
        try:
            keks.load(db, keyring, root, follow=follow)
        except aead.NotAuthentic:
            raise UnsealRefused("the key-encryption key does not unwrap under this root key") from None

    return load


def check_database(path: Path) -> None:
    """Refuse an embedded database whose pages are not sound (SQLite's quick_check): a copy
    torn by a checkpoint that rewrote pages while it was taken, a file cut short, a damaged
    disk. A copy that is sound but older than its source (commits still in the -wal it was
    copied without) is refused by `serve` before this (store/snapshot.py, the serving mark).

    Raises:
        StartupError: with SQLite's first complaint.
    """
    try:
        snapshot.check(path)
    except snapshot.DamagedDatabase as exc:
        raise StartupError(
            f"the database {path} is damaged ({exc}): restore it from an `openkms backup`"
        ) from None
    except _STORE_FAILURES as exc:
        refusal = _refusal(exc)
        if refusal is None:
            raise
        raise refusal from exc


@dataclass(frozen=True, slots=True)
class RootAccessKey:
    """The account's root AccessKey made by :func:`init_deployment`."""

    access_key_id: str
    secret: Hidden
    # The unseal shares of a shamir deployment, to show once (empty for other providers).
    shares: tuple[str, ...] = ()


def init_deployment(
    settings: Settings,
    clock: Clock | None = None,
    *,
    root_access_key: tuple[str, str] | None = None,
    account_id: str | None = None,
    root: InitRequest | None = None,
) -> tuple[Deployment, RootAccessKey]:
    """Create the deployment described by ``settings`` and open it: data directory, root key
    of trust (``settings.root_provider``, default ``file``: the key file, kept if one exists;
    ``root`` gives the passphrase or share counts of the others), schema, then in one
    transaction the provider, its records and the fingerprint, the first account
    (``account_id``, else a new 16-digit uid), the first KEK and the account's root
    AccessKey (``root_access_key`` as (id, secret), else a new pair).

    Raises:
        AlreadyInitialised: the database holds a deployment already (or another init won).
        StartupError: as :func:`open_deployment`, and an unusable ``root_access_key``.
    """
    clock = clock or SystemClock()
    _self_test()
    akid, secret = root_access_key or (ids.new_access_key_id(), ids.new_access_key_secret())
    if not akid or len(akid) > 64 or not akid.isascii() or not akid.isprintable() or len(secret) < 16:
        raise StartupError(
            "the root AccessKey must have an id of 1-64 printable ASCII characters and a secret "
            "of at least 16 characters"
        )
    name = settings.root_provider or DEFAULT_PROVIDER
    provider = PROVIDERS.get(name)
    if provider is None:
        raise StartupError(f"unknown root provider {name!r}; one of: {', '.join(PROVIDERS)}")
    if is_sqlite(settings.database_url) or (name == "file" and settings.root_key_file is None):
        _prepare_data_dir(settings.data_dir, create=True)
    db, nonce_store = _open_store(settings, migrate_schema=True, require_schema=False)
    try:
        # Refused before the root is made: a mistyped --root-key-file beside a database that
        # holds a deployment gets no key file written.
        with db.read() as tx:
            _refuse_existing(tx)
        try:
            created = provider.create(settings, root or InitRequest())
        except RootError as exc:
            raise StartupError(str(exc)) from exc
        records = {"root_provider": name, **created.records}
        try:
            uid = _initialise(
                db, created.root, clock, account_id or ids.new_account_id(), (akid, secret), records
            )
        except BaseException:
            created.undo()
            raise
        if is_sqlite(settings.database_url):
            _restrict_files(settings.data_dir)
        keyring = Keyring.sealed()
        load = _loader(db, keyring, created.root.fingerprint)
        load(created.root)
        seal = Seal(keyring, name, provider.unsealer(records), load)
        dep = Deployment(settings, db, nonce_store, keyring, uid, settings.region, clock, seal)
    except BaseException as exc:
        db.dispose()
        nonce_store.close()
        refusal = _refusal(exc)
        if refusal is not None:
            raise refusal from exc
        raise
    return dep, RootAccessKey(akid, Hidden(secret), tuple(created.shares))


def open_in_memory(clock: Clock | None = None, settings: Settings | None = None) -> Deployment:
    """A deployment held in this process only: an in-memory SQLite database (one thread at a
    time), a random :class:`~openkms.rootkey.MemoryRootKey` and nonces in a dict. Nothing is
    written to disk and nothing survives :meth:`Deployment.close`; for tests and tools that need
    the services without a data directory. Being a throwaway, it creates its own account (and
    no root AccessKey).
    """
    settings = settings or Settings(database="sqlite://")
    clock = clock or SystemClock()
    db = Database(make_engine("sqlite://"))
    migrate.upgrade(db.engine)
    root = MemoryRootKey()
    account_id = _initialise(db, root, clock, ids.new_account_id(), None)
    keyring = Keyring.sealed()
    _loader(db, keyring, root.fingerprint, follow=False)(root)  # one thread at a time
    return Deployment(settings, db, MemoryNonceStore(), keyring, account_id, settings.region, clock)


def _self_test() -> None:
    try:
        selftest.run()
    except selftest.SelfTestFailed as exc:
        raise StartupError(str(exc)) from exc


def _where(settings: Settings) -> str:
    if is_sqlite(settings.database_url):
        return str(settings.data_dir / "openkms.db")
    return "this database"


def _open_store(
    settings: Settings, migrate_schema: bool, *, require_schema: bool
) -> tuple[Database, NonceStore]:
    """The database (its schema brought to head, or checked) and the node's nonce store.

    With ``require_schema``, a database that has never been migrated is refused before anything
    is written to it: it holds no deployment.
    """
    url = settings.database_url
    old_umask = os.umask(0o077)
    try:
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
            if require_schema and migrate.current_revision(db.engine) is None:
                raise StartupError(f"no deployment in {_where(settings)} (no openkms schema); {INIT_HINT}")
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
    return db, nonce_store


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


def _refuse_existing(tx: store.Tx) -> None:
    if (
        meta.get(tx, "root_fingerprint") is not None
        or meta.get(tx, "account_id") is not None
        or meta.any_kek(tx)
    ):
        raise AlreadyInitialised("this database holds a deployment already; nothing was changed")


def _initialise(
    db: Database,
    root: RootKeyProvider,
    clock: Clock,
    account_id: str,
    root_pair: tuple[str, str] | None,
    records: dict[str, str] | None = None,
) -> str:
    """Record a new deployment in one transaction: the root key's fingerprint, the account, the
    first KEK and (given) the account's root AccessKey. Returns the account id.

    Raises:
        AlreadyInitialised: the database holds (part of) a deployment, or another init committed
            first.
    """
    now = clock.now()
    wrapped_kek = Keyring.new_kek(root, 1)
    try:
        with db.write() as tx:
            _refuse_existing(tx)
            for name, value in (records or {}).items():
                meta.insert_value(tx, name, value)
            meta.insert_value(tx, "root_fingerprint", root.fingerprint)
            meta.insert_value(tx, "account_id", account_id)
            accounts.insert_account(tx, account_id, "", now)
            meta.insert_kek(tx, 1, wrapped_kek, now)
            if root_pair is not None:
                akid, secret = root_pair
                keyring = Keyring(root, {1: wrapped_kek})
                kek_version, wrapped = keyring.wrap(secret.encode(), access_key_aad(akid, 1))
                access_keys.insert_pair(
                    tx,
                    access_key_id=akid,
                    secret_wrapped=wrapped,
                    kek_version=kek_version,
                    status="Active",
                    description="root",
                    created=now,
                    account_uid=account_id,
                    user_id=None,
                )
    except Conflict:
        raise AlreadyInitialised(
            "this database holds a deployment already (another init was first)"
        ) from None
    return account_id


def readiness(dep: Deployment) -> str | None:
    """None when the node can serve (it is unsealed, its database answers and holds the
    schema this code expects), else why not: ``GET /ready``. One cheap query; it waits on the
    database, so the server runs it off its event loop."""
    if dep.sealed:
        return "sealed"
    try:
        if migrate.current_revision(dep.db.engine) == _head(dep):
            return None
        state = migrate.schema_state(dep.db.engine)  # reads the migration scripts: only then
    except DATABASE_UNAVAILABLE as exc:
        if disk_full(exc):
            return "the database's disk is full"
        return f"database unavailable ({type(exc).__name__})"
    if state != "current":
        return f"the database schema is {state} than this openkms"
    return None


_HEAD: list[str | None] = []


def _head(dep: Deployment) -> str | None:
    """The schema revision this code expects (its migration scripts, read once per process)."""
    if not _HEAD:
        _HEAD.append(migrate.head_revision(dep.db.engine))
    return _HEAD[0]
