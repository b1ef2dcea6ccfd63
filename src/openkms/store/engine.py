"""Engines and transactions for SQLite (the embedded default) and PostgreSQL.

SQLite runs in WAL mode with ``synchronous=FULL`` for the key database: a success answer is
sent only after COMMIT has returned, and COMMIT is then on disk. Writes take the database lock
up front (``BEGIN IMMEDIATE``) so two writers never deadlock upgrading a read lock.

PostgreSQL (psycopg 3, one pool per worker process) runs at READ COMMITTED; a write that reads
a row to decide what to write locks it first (:func:`for_update`, ``SELECT ... FOR UPDATE``), which
SQLite does not need because ``BEGIN IMMEDIATE`` already serialises writers. Every wait on the
database is bounded by ``timeout`` seconds (connect, pool checkout, statement and lock waits, and
unacknowledged TCP data), so a node whose database is gone fails its requests instead of hanging.

Statements on the :class:`Database` object itself (``first``, ``all``, ``scalar``, ``run``) are
the hot path: each is one transaction of its own. On a SQLite file they skip SQLAlchemy's
connection and transaction machinery, which costs several times the statement itself: one Core
statement, compiled once, runs on a raw SQLite connection of the calling thread in autocommit
mode. One statement is one transaction, so such a read is consistent and such a write as durable
as any other commit on that database (same ``synchronous`` level). Reads that must agree with
each other (GetSecretValue reads a secret, a version with its stages and the key) run inside
:meth:`Database.snapshot`: one deferred read transaction on that raw connection. On PostgreSQL
a statement on the database falls back to an ordinary ``read()``/``write()`` block, or, inside
``snapshot()``, runs on that snapshot's read-only REPEATABLE READ transaction. The thread that
commits a hot write does not also run SQLite's WAL checkpoint (an fsync every ~1000 pages): a
background thread of the process checkpoints every :data:`CHECKPOINT_SECONDS` instead.

Every ``write()`` block and hot write on a SQLite file then changes the database's write
generation (:attr:`Database.generation`, store/generation.py), which lets each process keep its
hot reads until the node next writes (service/caches.py).
"""

from __future__ import annotations

import contextlib
import errno
import math
import os
import select
import socket
import sqlite3
import threading
import time
import weakref
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, cast

from sqlalchemy import Connection, Engine, Executable, Select, create_engine, event
from sqlalchemy.exc import DisconnectionError, IntegrityError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.pool import NullPool, StaticPool
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.expression import ClauseElement

from openkms.store.generation import SUFFIX as GENERATION_SUFFIX
from openkms.store.generation import WriteGeneration
from openkms.store.listen import NOTIFY, WriteListener

SQLITE_BUSY_MS = 10_000
# Waits between attempts when a hot statement finds the SQLite database locked by another
# process: SQLite's own busy handler would sleep whole milliseconds from the first retry.
_BUSY_BACKOFF = (0.0, 0.0, 0.00002, 0.00005, 0.0001, 0.0002, 0.0005, 0.001)
_SQLITE_BUSY_CODES = (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)
CHECKPOINT_SECONDS = 0.5
_MAX_COMPILED = 512
# Seconds any single wait on PostgreSQL may take (``--db-timeout``).
DEFAULT_TIMEOUT = 5.0


# A row read by a repository function: column name -> value.
Row = Mapping[str, Any]


class WouldWait(Exception):
    """A statement on PostgreSQL was asked for on a thread that must not wait for the network
    (the event loop, :meth:`Database.forbid_waits`): the caller runs the work where it may."""


class Conflict(Exception):
    """A write met a row with the same primary or unique key (another writer was first)."""


# What the driver and the pool raise when the database cannot be reached or answered in time,
# or cannot store more. SQLite's own error comes unwrapped from the hot path and from the write
# lock's wait (_execute_waiting): "database is locked" past SQLITE_BUSY_MS, "database or disk is
# full", as SQLAlchemy raises them wrapped elsewhere.
UNAVAILABLE: tuple[type[BaseException], ...] = (OperationalError, PoolTimeout, sqlite3.OperationalError)

# SQLite's codes for a write that found no room: SQLITE_FULL (a full disk, or a database at its
# max_page_count), and a -shm file that could not grow, which SQLite's documentation gives a
# full volume as the likely cause of.
_SQLITE_FULL_CODES = (sqlite3.SQLITE_FULL, sqlite3.SQLITE_IOERR_SHMSIZE)
# PostgreSQL's disk_full ("could not extend file ...: No space left on device").
_PG_DISK_FULL = "53100"


def reason(exc: BaseException) -> str:
    """The driver's reason for a failed connection, without the SQL or parameters SQLAlchemy
    appends (safe to show an operator)."""
    orig = getattr(exc, "orig", None)
    return str(orig if orig is not None else exc).strip().splitlines()[0]


def disk_full(exc: BaseException) -> bool:
    """Whether ``exc`` (a driver error, raw or as SQLAlchemy wraps it, or an OSError) says the
    disk is full, so an operator is told that and not of a database that is down."""
    orig = getattr(exc, "orig", None)
    found = orig if orig is not None else exc
    if isinstance(found, OSError):
        return found.errno in (errno.ENOSPC, errno.EDQUOT)
    if isinstance(found, sqlite3.Error):
        return getattr(found, "sqlite_errorcode", None) in _SQLITE_FULL_CODES
    return getattr(found, "sqlstate", None) == _PG_DISK_FULL


def is_sqlite(url: str) -> bool:
    return url.startswith("sqlite")


def is_memory(url: str) -> bool:
    """A SQLite database held in memory (``sqlite://``): one thread at a time, gone at close."""
    return url in ("sqlite://", "sqlite:///:memory:")


def make_engine(
    url: str,
    *,
    synchronous: str = "FULL",
    pool_size: int = 5,
    timeout: float = DEFAULT_TIMEOUT,
    mmap_size: int | None = None,
) -> Engine:
    """Create an engine; ``synchronous`` applies to SQLite only.

    ``timeout`` bounds PostgreSQL waits (see the module docstring); SQLite waits for a busy
    database up to :data:`SQLITE_BUSY_MS`.

    ``mmap_size`` (SQLite) maps that many bytes of the file: when several processes use the same
    database, each commit of one empties the others' page caches, and mapped pages are then
    re-read without a system call.
    """
    if is_sqlite(url):
        if is_memory(url):
            # One connection for the process: each new one would be an empty database of its own.
            engine = create_engine(url, poolclass=StaticPool, connect_args={"check_same_thread": False})
        else:
            engine = create_engine(
                url,
                connect_args={"timeout": SQLITE_BUSY_MS / 1000, "check_same_thread": False},
                pool_size=pool_size,
                max_overflow=10,
            )

        @event.listens_for(engine, "connect")
        def _connect(dbapi_conn: sqlite3.Connection, _record: Any) -> None:
            # Take transaction control from the driver so BEGIN IMMEDIATE is ours to issue.
            dbapi_conn.isolation_level = None
            _sqlite_pragmas(dbapi_conn, synchronous, SQLITE_BUSY_MS)
            if mmap_size is not None:
                dbapi_conn.execute(f"PRAGMA mmap_size={int(mmap_size)}").fetchall()

        @event.listens_for(engine, "begin")
        def _begin(conn: Connection) -> None:
            if conn.get_execution_options().get("write"):
                _begin_immediate(cast(sqlite3.Connection, conn.connection.dbapi_connection))
            else:
                conn.exec_driver_sql("BEGIN")

        return engine
    engine = create_engine(
        driver_url(url),
        pool_size=pool_size,
        max_overflow=10,
        pool_timeout=timeout,
        connect_args=pg_connect_args(timeout),
    )
    # In place of the pool's pre-ping (a round trip per checkout, as much as the statement).
    event.listen(engine, "checkout", _discard_if_closed)
    return engine


def _discard_if_closed(dbapi_conn: Any, _record: Any, _proxy: Any) -> None:
    """Make the pool replace an idle PostgreSQL connection that the server has closed.

    Nothing is due on an idle connection: if its socket is readable, the server has sent its
    farewell (a restart, an administrator's pg_terminate_backend) or closed it. A poll of the
    socket costs a system call where a ping costs a round trip. A connection lost silently (a
    partition) is not seen here; its first statement fails within the connection's timeouts.
    """
    if dbapi_conn.closed or dbapi_conn.pgconn.status != 0:  # 0: CONNECTION_OK
        raise DisconnectionError()
    poller = select.poll()
    poller.register(dbapi_conn.pgconn.socket, select.POLLIN)
    if poller.poll(0):
        raise DisconnectionError()


def driver_url(url: str) -> str:
    """``postgresql://`` means psycopg 3 (SQLAlchemy would otherwise pick psycopg2)."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def pg_connect_args(timeout: float, *, statement_timeout: bool = True) -> dict[str, Any]:
    """libpq settings that bound every wait of one connection by about ``timeout`` seconds."""
    ms = int(timeout * 1000)
    options = [
        # A transaction left open by a vanished node must not hold its row locks for long.
        f"-c idle_in_transaction_session_timeout={max(ms * 6, 30_000)}",
    ]
    if statement_timeout:
        options.append(f"-c statement_timeout={ms}")
    return {
        # libpq counts whole seconds and treats anything below 2 as 2.
        "connect_timeout": max(2, math.ceil(timeout)),
        # A peer that stops acknowledging (a partition) breaks the connection instead of a hang.
        "tcp_user_timeout": ms,
        "keepalives": 1,
        "keepalives_idle": max(1, math.ceil(timeout)),
        "keepalives_interval": 1,
        "keepalives_count": 3,
        "options": " ".join(options),
        "application_name": "openkms",
    }


def for_update(stmt: Select[Any]) -> Select[Any]:
    """Lock the selected rows until the write transaction ends (PostgreSQL).

    On SQLite SQLAlchemy renders nothing for it: ``BEGIN IMMEDIATE`` has already taken the
    database's write lock, so the read-then-write inside a write transaction is serialised there.
    """
    return stmt.with_for_update()


def _execute_waiting(raw: sqlite3.Connection, sql: str, args: Sequence[Any] = ()) -> sqlite3.Cursor:
    """Run one statement, trying again with short back-offs while another process holds the lock.

    SQLite's own busy handler sleeps 1, 2, 5 ... 100 ms between attempts, so under a stream of
    writes from another process a waiting writer could lose every race for seconds. Here it
    tries again after at most a millisecond, up to the same :data:`SQLITE_BUSY_MS` in all. The
    connection's own busy timeout must be 0 (the hot connections' is).
    """
    deadline = 0.0
    attempt = 0
    while True:
        try:
            return raw.execute(sql, args)
        except sqlite3.OperationalError as exc:
            if exc.sqlite_errorcode not in _SQLITE_BUSY_CODES:
                raise
            now = time.monotonic()
            if not deadline:
                deadline = now + SQLITE_BUSY_MS / 1000
            elif now > deadline:
                raise
            time.sleep(_BUSY_BACKOFF[min(attempt, len(_BUSY_BACKOFF) - 1)])
            attempt += 1


def _begin_immediate(raw: sqlite3.Connection) -> None:
    """Take SQLite's write lock with :func:`_execute_waiting`'s short back-offs (the pooled
    connection's busy timeout is set to 0 for the wait and restored after it)."""
    raw.execute("PRAGMA busy_timeout=0")
    try:
        _execute_waiting(raw, "BEGIN IMMEDIATE")
    finally:
        raw.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_MS}")


def _sqlite_pragmas(conn: sqlite3.Connection, synchronous: str, busy_ms: int) -> None:
    cur = conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute(f"PRAGMA synchronous={synchronous}")
    cur.execute("PRAGMA foreign_keys=ON")
    # Deleted rows (destroyed key material, even wrapped) are overwritten with zeros, not left
    # in free pages; Database.checkpoint then takes the older copies out of the -wal file.
    cur.execute("PRAGMA secure_delete=ON")
    cur.execute(f"PRAGMA busy_timeout={busy_ms}")
    cur.close()


def make_nullpool_engine(url: str, *, timeout: float = DEFAULT_TIMEOUT) -> Engine:
    """An engine for one-off work (offline commands, migrations): no pool left behind, and on
    PostgreSQL no statement timeout (a migration or a wait for the migration lock may be long)."""
    if is_sqlite(url):
        return create_engine(url, poolclass=NullPool)
    return create_engine(
        driver_url(url), poolclass=NullPool, connect_args=pg_connect_args(timeout, statement_timeout=False)
    )


class _Compiled:
    """A Core statement compiled once for SQLite: SQL text, bind order, column converters."""

    __slots__ = ("binds", "columns", "defaults", "names", "processors", "sql", "stmt")

    def __init__(self, stmt: Executable, engine: Engine) -> None:
        dialect = engine.dialect
        compiled = cast(SQLCompiler, cast(ClauseElement, stmt).compile(dialect=dialect))
        self.stmt = stmt  # keeps id(stmt) from being reused while cached
        self.sql = str(compiled)
        self.names = tuple(compiled.positiontup or ())
        # Values written into the statement itself (``.values(status="Active")``).
        self.defaults = dict(compiled.params)
        binds = []
        for i, name in enumerate(self.names):
            proc = compiled.binds[name].type.dialect_impl(dialect).bind_processor(dialect)
            if proc is not None:
                binds.append((i, proc))
        self.binds = binds or None
        columns = getattr(stmt, "selected_columns", ())
        self.columns = tuple(c.key for c in columns)
        procs = [c.type.dialect_impl(dialect).result_processor(dialect, None) for c in columns]
        found = [(i, p) for i, p in enumerate(procs) if p is not None]
        self.processors = found or None

    def args(self, params: Mapping[str, Any]) -> list[Any]:
        defaults = self.defaults
        out = [params[n] if n in params else defaults[n] for n in self.names]
        if self.binds is not None:
            for i, proc in self.binds:
                out[i] = proc(out[i])
        return out

    def row(self, raw: Sequence[Any]) -> Row:
        if self.processors is None:
            return dict(zip(self.columns, raw, strict=True))
        out = list(raw)
        for i, p in self.processors:
            out[i] = p(out[i])
        return dict(zip(self.columns, out, strict=True))


class Tx:
    """One transaction of a :meth:`Database.read` or :meth:`Database.write` block.

    It answers the same four calls as :class:`Database` (``first``, ``all``, ``scalar``,
    ``run``), so a repository function is written once and runs wherever it is given: inside
    the caller's transaction, or on its own on the hot path.
    """

    __slots__ = ("_conn",)

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def first(self, stmt: Executable, params: Mapping[str, Any] | None = None) -> Row | None:
        found = self._conn.execute(stmt, params).first()
        return cast(Row, found._mapping) if found is not None else None

    def all(self, stmt: Executable, params: Mapping[str, Any] | None = None) -> list[Row]:
        return [cast(Row, r._mapping) for r in self._conn.execute(stmt, params)]

    def scalar(self, stmt: Executable, params: Mapping[str, Any] | None = None) -> Any:
        return self._conn.execute(stmt, params).scalar()

    def run(
        self, stmt: Executable, params: Mapping[str, Any] | Sequence[Mapping[str, Any]] | None = None
    ) -> int:
        """Execute a write statement (``params`` a list: once per item); the number of rows it
        changed. Raises :class:`Conflict` on a duplicate key."""
        try:
            return int(self._conn.execute(stmt, params).rowcount)
        except IntegrityError as exc:
            raise Conflict(reason(exc)) from None


_TRACKED: dict[Any, Any] = {}


def _tracked_class(base: Any) -> Any:
    """``base`` (psycopg's Connection) marking itself with the thread that opens a cursor on it:
    every statement, and the pool's ping, go through a cursor."""
    found = _TRACKED.get(base)
    if found is None:

        def cursor(self: Any, *args: Any, **kwargs: Any) -> Any:
            self.openkms_thread = threading.get_ident()
            return base.cursor(self, *args, **kwargs)

        found = _TRACKED[base] = type("TrackedConnection", (base,), {"cursor": cursor, "openkms_thread": 0})
    return found


def _untrack(dbapi_conn: Any, _record: Any) -> None:
    if dbapi_conn is not None and hasattr(dbapi_conn, "openkms_thread"):
        dbapi_conn.openkms_thread = 0


class Database:
    """One engine, the two kinds of transaction the services use, and the hot path."""

    def __init__(self, engine: Engine, *, generation: Path | None = None) -> None:
        """``generation``: on PostgreSQL, the node's write-generation file (a SQLite file's is
        beside it); without one nothing read may be kept (service/caches.py)."""
        self.engine = engine
        self._postgres = engine.dialect.name == "postgresql"
        path = engine.url.database if engine.dialect.name == "sqlite" else None
        # A file database only: an in-memory one is private to each connection.
        self._sqlite_path = path if path and path != ":memory:" and not path.startswith("file:") else None
        self._local = threading.local()
        self._raw: list[sqlite3.Connection] = []
        self._raw_lock = threading.Lock()
        # Re-entrant: a write block inside another of the same thread must fail as before (the
        # database is locked), not deadlock here.
        self._write_lock = threading.RLock()
        self._compiled: dict[int, _Compiled] = {}
        self._synchronous: str | None = None
        self._mmap_size = 0
        self._checkpointer: threading.Thread | None = None
        self._closing = threading.Event()
        # Changed after every write of the node, so its processes may keep what they read
        # while it stands still (store/generation.py); None: nothing may be kept.
        if self._sqlite_path:
            generation = Path(self._sqlite_path + GENERATION_SUFFIX)
        elif engine.dialect.name != "postgresql":
            generation = None  # an in-memory SQLite
        self.generation = WriteGeneration(generation) if generation is not None else None
        # On PostgreSQL other nodes write too: their notifications move the generation.
        self._listener = (
            WriteListener(self.own_connection, self.generation)
            if self.generation is not None and engine.dialect.name == "postgresql"
            else None
        )
        # PostgreSQL connections, each marked with the thread using it, and the threads cut off
        # (see interrupt()).
        self._tracked: weakref.WeakSet[Any] = weakref.WeakSet()
        self._cut_off: set[int] = set()
        if engine.dialect.name == "postgresql":
            event.listen(engine, "do_connect", self._connect_tracked)
            event.listen(engine, "checkin", _untrack)

    def _connect_tracked(self, dialect: Any, _record: Any, cargs: Any, cparams: Any) -> Any:
        if threading.get_ident() in self._cut_off:
            # The pool would replace the connection just cut; the thread's time is up.
            raise dialect.loaded_dbapi.OperationalError("cut off from the database")
        conn = _tracked_class(dialect.loaded_dbapi.Connection).connect(*cargs, **cparams)
        self._tracked.add(conn)
        return conn

    def interrupt(self, thread_id: int) -> bool:
        """Cut thread ``thread_id`` off PostgreSQL: shut down the connections it uses (checked
        out, or being checked by the pool's ping) and refuse it new ones until it calls
        :meth:`resume`. A wait of that thread on a database that stopped answering fails at once
        with the driver's error, and the server, seeing the connection gone, rolls its
        transaction back. True if the thread was cut off; nothing on SQLite, whose waits are
        bounded by its busy timeout."""
        if self.engine.dialect.name != "postgresql":
            return False
        self._cut_off.add(thread_id)
        for conn in list(self._tracked):
            if getattr(conn, "openkms_thread", 0) != thread_id or conn.closed:
                continue
            try:
                with socket.socket(fileno=os.dup(conn.fileno())) as sock:
                    sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        return True

    def resume(self) -> None:
        """Let the calling thread, cut off by :meth:`interrupt`, use the database again."""
        self._cut_off.discard(threading.get_ident())

    def own_connection(self) -> Any:
        """A new PostgreSQL connection outside the pool, with the pool's settings (the nonce
        claims' and the write listener's own)."""
        proxied = self.engine.raw_connection()
        proxied.detach()  # never returned to the pool: the caller closes it
        return proxied.dbapi_connection

    def forbid_waits(self) -> None:
        """From now on, a transaction on PostgreSQL begun on the calling thread raises
        :class:`WouldWait` instead (the server's event loop: it serves from the caches and
        sends what needs the database to its pool). Nothing changes on SQLite, whose hot
        statements are local."""
        if self.engine.dialect.name == "postgresql":
            self._local.no_wait = True

    def _may_wait(self) -> None:
        if getattr(self._local, "no_wait", False):
            raise WouldWait()

    # -- hot path ------------------------------------------------------------------------

    @property
    def hot_local(self) -> bool:
        """Hot statements run on a local file (microseconds, no network wait)."""
        return self._sqlite_path is not None

    def _raw_conn(self, synchronous: str | None = None) -> sqlite3.Connection:
        """The calling thread's hot connection; with ``synchronous``, its connection at that
        level (the unsynced group commits of run_batch have one of their own)."""
        attr = "conn" if synchronous is None else f"conn_{synchronous}"
        conn: sqlite3.Connection | None = getattr(self._local, attr, None)
        if conn is None:
            if self._synchronous is None:
                # The hot connections take the pool's settings, as its connect hook made them.
                with self.engine.connect() as c:
                    level = c.exec_driver_sql("PRAGMA synchronous").scalar()
                    self._mmap_size = int(c.exec_driver_sql("PRAGMA mmap_size").scalar() or 0)
                self._synchronous = {0: "OFF", 1: "NORMAL", 2: "FULL", 3: "EXTRA"}.get(level, "FULL")  # type: ignore[arg-type]
            assert self._sqlite_path is not None
            # timeout=0: a locked database is retried here with finer waits (see _execute_waiting).
            conn = sqlite3.connect(
                self._sqlite_path, timeout=0, isolation_level=None, check_same_thread=False
            )
            _sqlite_pragmas(conn, synchronous or self._synchronous, SQLITE_BUSY_MS)
            conn.execute("PRAGMA busy_timeout=0")
            if self._mmap_size:
                conn.execute(f"PRAGMA mmap_size={self._mmap_size}").fetchall()
            conn.execute("PRAGMA wal_autocheckpoint=0")
            with self._raw_lock:
                self._raw.append(conn)
            setattr(self._local, attr, conn)
        return conn

    def set_trace(self, callback: Callable[[str], None] | None) -> None:
        """Report each SQL statement the calling thread's hot connection runs to ``callback``
        (None stops it). Tests use it to prove what the hot path does and does not write."""
        if self._sqlite_path is not None:
            self._raw_conn().set_trace_callback(callback)

    def _compile(self, stmt: Executable) -> _Compiled:
        found = self._compiled.get(id(stmt))
        if found is None or found.stmt is not stmt:
            if len(self._compiled) >= _MAX_COMPILED:
                # Statements built per call (a mistake: hot statements are module constants)
                # must not pile up.
                self._compiled.clear()
            found = self._compiled[id(stmt)] = _Compiled(stmt, self.engine)
        return found

    def _run(self, stmt: Executable, params: Mapping[str, Any]) -> tuple[_Compiled, sqlite3.Cursor]:
        compiled = self._compile(stmt)
        args = compiled.args(params)
        return compiled, _execute_waiting(self._raw_conn(), compiled.sql, args)

    @contextmanager
    def snapshot(self) -> Iterator[None]:
        """Make the reads the block runs on the database itself (``first``, ``all``,
        ``scalar`` on this object) see one snapshot.

        On SQLite: ``BEGIN`` (deferred: no lock is taken, the first read fixes the snapshot)
        on the thread's raw connection, ``COMMIT`` at the end, ``ROLLBACK`` if the block
        raises. Writers of other connections and processes are not held up (WAL), and what they
        commit meanwhile is not seen by the block. On PostgreSQL (and an in-memory SQLite) the
        block's reads run on one ``read()`` transaction of its own, on PostgreSQL a read-only
        REPEATABLE READ one (READ COMMITTED would give each statement its own snapshot). It is
        a read block: :meth:`run` inside it is refused, and so is a second ``snapshot()`` of the
        same thread (RuntimeError), which could not be a snapshot of its own.
        """
        local = self._local
        if getattr(local, "snapshot", None) is not None:
            raise RuntimeError("snapshot() does not nest: this thread is already inside one")
        if self._sqlite_path is None:
            self._may_wait()
            conn = self.engine.connect()
            if self.engine.dialect.name == "postgresql":
                conn = conn.execution_options(isolation_level="REPEATABLE READ", postgresql_readonly=True)
            with conn, conn.begin():
                local.snapshot = Tx(conn)
                try:
                    yield
                finally:
                    local.snapshot = None
            return
        raw = self._raw_conn()
        raw.execute("BEGIN")
        local.snapshot = raw
        done = False
        try:
            yield
            done = True
        finally:
            local.snapshot = None
            # An error inside may have ended the transaction already (SQLite rolls back by
            # itself on some I/O errors); then there is nothing left to end.
            if raw.in_transaction:
                raw.execute("COMMIT" if done else "ROLLBACK")

    def _elsewhere(self) -> Tx | None:
        """Where a statement on the database itself runs when not on the SQLite file: the
        thread's snapshot, or None for a transaction of its own."""
        found: Tx | None = getattr(self._local, "snapshot", None)
        return found

    def first(self, stmt: Executable, params: Mapping[str, Any] | None = None) -> Row | None:
        """The first row of one read statement, run on its own (one statement, one
        transaction) or inside the thread's :meth:`snapshot`.

        ``stmt`` must be built once (a module constant with ``bindparam`` objects named as in
        ``params``): it is compiled once and kept.
        """
        if self._sqlite_path is None:
            tx = self._elsewhere()
            if tx is not None:
                return tx.first(stmt, params)
            with self.read() as tx:
                found = tx.first(stmt, params)
                return dict(found) if found is not None else None
        compiled, cur = self._run(stmt, params or {})
        raw = cur.fetchone()
        cur.close()
        return compiled.row(raw) if raw is not None else None

    def all(self, stmt: Executable, params: Mapping[str, Any] | None = None) -> list[Row]:
        """Every row of one read statement, run on its own or in a snapshot, like :meth:`first`."""
        if self._sqlite_path is None:
            tx = self._elsewhere()
            if tx is not None:
                return tx.all(stmt, params)
            with self.read() as tx:
                return [dict(r) for r in tx.all(stmt, params)]
        compiled, cur = self._run(stmt, params or {})
        rows = cur.fetchall()
        cur.close()
        return [compiled.row(r) for r in rows]

    def scalar(self, stmt: Executable, params: Mapping[str, Any] | None = None) -> Any:
        """The first column of the first row (None if there is none), like :meth:`first`."""
        if self._sqlite_path is None:
            tx = self._elsewhere()
            if tx is not None:
                return tx.scalar(stmt, params)
            with self.read() as tx:
                return tx.scalar(stmt, params)
        compiled, cur = self._run(stmt, params or {})
        raw = cur.fetchone()
        cur.close()
        return None if raw is None else compiled.row(raw)[compiled.columns[0]]

    def run(self, stmt: Executable, params: Mapping[str, Any] | None = None) -> int:
        """Run one write statement as its own transaction; return the row count.

        Committed (with this database's durability) when it returns; raises :class:`Conflict`
        on a duplicate key, as inside ``write()``.
        """
        if getattr(self._local, "snapshot", None) is not None:
            # On SQLite it would run inside the snapshot's transaction and not commit here.
            raise RuntimeError("run() inside snapshot(): a snapshot only reads")
        if self._sqlite_path is None:
            with self.write() as tx:
                return tx.run(stmt, params)
        if self._checkpointer is None:
            self._start_checkpointer()
        try:
            _, cur = self._run(stmt, params or {})
        except sqlite3.IntegrityError as exc:
            raise Conflict(str(exc)) from None
        count = cur.rowcount
        cur.close()
        if self.generation is not None:
            self.generation.advance()
        return count

    def run_batch(
        self,
        steps: Sequence[tuple[Executable, Sequence[Mapping[str, Any]]]],
        *,
        synced: bool = True,
        wait: bool = True,
    ) -> None:
        """Run each statement once per item of its parameters, all in one transaction that
        writes no row a process keeps (as ``write(kept=False)``): the audit trail's group
        commit. On a SQLite file it runs on the calling thread's hot connection, statements
        compiled once and ``executemany`` (no SQLAlchemy per row); elsewhere in a ``write()``
        block. Raises :class:`Conflict` on a duplicate key; nothing is written then.

        ``synced=False`` (SQLite): the commit is not synced to the disk (``synchronous=NORMAL``
        for it): it survives the process's crash, and reaches the disk with the next synced
        commit or checkpoint of the database (within :data:`CHECKPOINT_SECONDS`).

        ``wait=False`` (SQLite): raise :class:`WouldWait`, having written nothing, if another
        thread or process holds the write lock, instead of waiting for it (the event loop)."""
        if self._sqlite_path is None:
            with self.write(kept=False) as tx:
                for stmt, rows in steps:
                    tx.run(stmt, rows)
            return
        if self._checkpointer is None:
            self._start_checkpointer()
        conn = self._raw_conn(None if synced else "NORMAL")
        if not self._write_lock.acquire(blocking=wait):
            raise WouldWait()
        try:
            self._run_batch(conn, steps, wait)
        finally:
            self._write_lock.release()

    def _run_batch(
        self,
        conn: sqlite3.Connection,
        steps: Sequence[tuple[Executable, Sequence[Mapping[str, Any]]]],
        wait: bool,
    ) -> None:
        if wait:
            _execute_waiting(conn, "BEGIN IMMEDIATE")
        else:
            try:
                conn.execute("BEGIN IMMEDIATE")
            except sqlite3.OperationalError as exc:
                if exc.sqlite_errorcode in _SQLITE_BUSY_CODES:
                    raise WouldWait() from None
                raise
        try:
            for stmt, rows in steps:
                compiled = self._compile(stmt)
                conn.executemany(compiled.sql, [compiled.args(row) for row in rows])
            conn.execute("COMMIT")
        except sqlite3.IntegrityError as exc:
            conn.execute("ROLLBACK")
            raise Conflict(str(exc)) from None
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise

    @contextmanager
    def read(self) -> Iterator[Tx]:
        self._may_wait()
        with self.engine.connect() as conn, conn.begin():
            yield Tx(conn)

    @contextmanager
    def write(self, *, kept: bool = True) -> Iterator[Tx]:
        """A write transaction; it has committed (durably) when the block exits normally.
        A duplicate key, whether met by a statement or at COMMIT, raises :class:`Conflict`.

        ``kept=False``: the block writes no row that a process keeps (nonces, the job lease), so
        the write generation stays where it is and what the node's processes keep stays valid.

        On SQLite the threads of one process take turns here first: the database has one writer
        at a time anyway, and a thread that finds it locked sleeps in SQLite's busy handler for
        milliseconds at a time, which under a burst of writes made the slowest of them wait
        seconds. Queued on a lock, they wait only for each other's commits.
        """
        try:
            if self._sqlite_path is None:
                self._may_wait()
                try:
                    with self.engine.connect().execution_options(write=True) as conn, conn.begin():
                        yield Tx(conn)
                        if kept and self._postgres:
                            # Heard by every node as the transaction commits (store/listen.py).
                            conn.exec_driver_sql(NOTIFY)
                finally:
                    if self.generation is not None and kept:
                        self.generation.advance()
                return
            try:
                with (
                    self._write_lock,
                    self.engine.connect().execution_options(write=True) as conn,
                    conn.begin(),
                ):
                    yield Tx(conn)
            finally:
                # After the COMMIT (or a failure that may have come after it): before the
                # caller answers, every process of the node knows that what it kept may be stale.
                if self.generation is not None and kept:
                    self.generation.advance()
        except IntegrityError as exc:
            raise Conflict(reason(exc)) from None

    def _start_checkpointer(self) -> None:
        with self._raw_lock:
            if self._checkpointer is not None:
                return
            self._checkpointer = threading.Thread(
                target=self._checkpoint_loop, name="openkms-wal-checkpoint", daemon=True
            )
            self._checkpointer.start()

    def _checkpoint_loop(self) -> None:
        assert self._sqlite_path is not None
        conn = sqlite3.connect(self._sqlite_path, timeout=0, isolation_level=None)
        try:
            while not self._closing.wait(CHECKPOINT_SECONDS):
                # PASSIVE never waits for readers or writers; a checkpoint another process
                # is running already (SQLITE_BUSY) is as good as our own.
                with contextlib.suppress(sqlite3.OperationalError):
                    conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
        finally:
            conn.close()

    def checkpoint(self) -> None:
        """SQLite: copy the -wal file into the database and truncate it, so the pages a delete
        overwrote (secure_delete) keep no older copy there. A reader holding an older snapshot
        leaves it partial; the periodic checkpoint finishes it. Nothing to do on PostgreSQL
        (docs/root-of-trust.md says what VACUUM does)."""
        if self._sqlite_path is None:
            return
        conn = sqlite3.connect(self._sqlite_path, timeout=0, isolation_level=None)
        try:
            with contextlib.suppress(sqlite3.OperationalError):
                conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
        finally:
            conn.close()

    def dispose(self) -> None:
        self._closing.set()
        if self._listener is not None:
            self._listener.close()
        if self._checkpointer is not None:
            self._checkpointer.join(5)
            self._checkpointer = None
        with self._raw_lock:
            for conn in self._raw:
                conn.close()
            self._raw.clear()
        self._local = threading.local()
        self.engine.dispose()
