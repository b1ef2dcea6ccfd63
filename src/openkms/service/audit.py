"""The audit trail of one process: events in, durable (group commit) before their calls are
answered; and the checks and exports over every chain of a deployment.

Recording. A request hands its event to :meth:`AuditTrail.wait` (the event loop) or
:meth:`AuditTrail.record` (a thread) and is answered only once the event is committed. One
writer thread per process takes every event pending, links them into the process's chain
(domain/audit.py), and writes them in one transaction, with the chain's new head, then to the
optional JSON-lines file; the events of requests that finish together share that write and its
sync. A failed write fails every event of the group: in ``reject`` mode (the default) their calls
are answered 503 ServiceUnavailableTemporary instead of their results, and after such a failure
a call that would change state first checks that the sink can be written again
(:meth:`AuditTrail.writable`), and is refused before it acts if not; in ``continue`` mode the
failure is logged and the calls are answered.

Keys. The chain's MAC key and the key that hides sensitive values (``hmac-sha256:…``) are
derived from a KEK of the root of trust (each chain records which), so nobody holding only the
database can re-link a chain or test guesses against a hidden value.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from openkms.domain import audit as events
from openkms.domain.errors import Sealed, ServiceUnavailable
from openkms.service.deployment import Deployment
from openkms.store import WouldWait, principals
from openkms.store import audit as repo

__all__ = [
    "MODES",
    "AuditFailed",
    "AuditTrail",
    "FileSink",
    "Finding",
    "export",
    "follow",
    "prune",
    "value_hashes",
    "verify",
]

log = logging.getLogger("openkms.audit")

CHAIN_LABEL = b"openkms/audit/chain/v1"
VALUE_LABEL = b"openkms/audit/values/v1"
MODES = ("reject", "continue")
# A group is cut at this many events (one transaction stays short).
MAX_GROUP = 1024
# Lines kept for an audit file that cannot be written, at most.
MAX_BACKLOG = 100_000
# The chain's head (its last seq and MAC, under a MAC of its own) is recorded with a group at
# most this often, and when the chain closes: a checkpoint that shows a truncated tail.
HEAD_SECONDS = 1.0
# Seconds the job runner waits for the event of one of its actions.
SYSTEM_WAIT = 30.0
# A process closes its chain and opens another after this long: a closed chain can be pruned.
CHAIN_SECONDS = 86_400.0


class AuditFailed(ServiceUnavailable):
    """The call's event could not be written to a sink that must have it (answered 503)."""


@dataclass(slots=True)
class _Waiter:
    """A thread waiting for its event to be durable."""

    done: threading.Event = field(default_factory=threading.Event)
    error: BaseException | None = None


Pending = tuple[dict[str, Any], "asyncio.Future[None] | _Waiter | None"]


class FileSink:
    """An append-only JSON-lines file, rotated by size (FILE.1 the newest rotated, up to
    ``keep``). Each group is written and synced before its calls are answered."""

    def __init__(self, path: Path, max_bytes: int, keep: int) -> None:
        self.path = path
        self.max_bytes = max_bytes
        self.keep = max(1, keep)
        self._fd: int | None = None

    def write(self, lines: list[bytes]) -> None:
        fd = self._open()
        data = b"".join(lines)
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        os.fsync(fd)
        if os.fstat(fd).st_size >= self.max_bytes:
            self._rotate()

    def _open(self) -> int:
        if self._fd is None:
            self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        return self._fd

    def _rotate(self) -> None:
        self.close()
        for n in range(self.keep - 1, 0, -1):
            older = self.path.with_name(f"{self.path.name}.{n}")
            if older.exists():
                older.rename(self.path.with_name(f"{self.path.name}.{n + 1}"))
        self.path.rename(self.path.with_name(f"{self.path.name}.1"))

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


class AuditTrail:
    """The process's chain and its writer thread (started on the first event)."""

    def __init__(self, dep: Deployment) -> None:
        settings = dep.settings
        for name in ("audit_mode", "audit_file_mode"):
            if getattr(settings, name) not in MODES:
                raise ValueError(f"{name} must be one of {', '.join(MODES)}")
        self.dep = dep
        self.enabled = settings.audit
        self.reject = settings.audit_mode == "reject"
        self.file: FileSink | None = None
        self.file_reject = settings.audit_file_mode == "reject"
        if settings.audit_file is not None:
            self.file = FileSink(settings.audit_file, settings.audit_file_max_bytes, settings.audit_file_keep)
        self.node = f"{socket.gethostname()}:{os.getpid()}"
        self.chain_id = uuid.uuid4().hex
        # Set while the last write to a sink failed (see writable()).
        self.failing = False
        self._file_failing = False
        self.written = 0  # events made durable (metrics)
        self.failed = 0  # events whose write failed
        self._lock = threading.Condition()
        self._pending: list[Pending] = []
        self._from_loop: list[Pending] = []  # handed in on the loop this iteration
        self._deadline: float | None = None  # the soonest deadline among them
        self._thread: threading.Thread | None = None
        self._stopping = False
        self._pid = 0
        self._seq = 0
        self._mac = b""
        self._kek_version = 0
        self._started = 0.0
        self._head_at = 0.0  # time.monotonic() of the last head checkpoint
        self.synced = dep.settings.audit_sync
        # An unsynced group commit to a local file is written on the event loop itself when
        # nothing has to be waited for (_write_here); a synced one, a file sink's or one to
        # PostgreSQL goes to the writer thread.
        self.inline = dep.db.hot_local and not self.synced and self.file is None
        self._chain_lock = threading.Lock()  # one write of the chain at a time
        self._sealed_said = False  # the sealed state was logged (until a write succeeds)
        self._writing = False
        self._backlog: list[bytes] = []  # lines written to the database, not yet to the file
        self._user_names: dict[str, str] = {}
        self._redactor: events.Redactor | None = None

    @property
    def pending(self) -> int:
        """Events handed in and not yet written."""
        return len(self._pending)

    # -- what the request path calls ----------------------------------------------------------

    @property
    def redactor(self) -> events.Redactor:
        if self._redactor is None:
            self._redactor = events.Redactor(self.hash_value)
        return self._redactor

    def hash_value(self, text: str) -> str:
        """``hmac-sha256:<hex>`` of a value under the deployment's value key."""
        # Asked of the keyring each time (a dict lookup): sealing takes it away (service/seal.py).
        key = self.dep.keyring.derived(VALUE_LABEL)[1]
        return "hmac-sha256:" + hmac.digest(key, text.encode(), "sha256").hex()

    async def wait(self, event: dict[str, Any], within: float | None = None) -> None:
        """On the event loop: return once ``event`` is durable; AuditFailed if it could not be
        written where it must be, or not within ``within`` seconds (a database that stopped
        answering: the writer's connection is then cut, as a request's is)."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()
        # The events of one loop iteration (the requests that finished together) are handed
        # to the writer together when it ends: one wake-up of the writer and one group, where
        # handing each over at once would wake it, and commit, for most of them alone.
        self._from_loop.append((event, future))
        if len(self._from_loop) == 1:
            self._deadline = within
            loop.call_soon(self._hand_over, loop)
        elif within is not None and (self._deadline is None or within < self._deadline):
            self._deadline = within
        await future

    def _hand_over(self, loop: asyncio.AbstractEventLoop) -> None:
        group, self._from_loop = self._from_loop, []
        if self.inline and self._seq and self._pid == os.getpid() and self._write_here(group):
            return
        if self._deadline is not None:
            # One timer for the group, not one per request.
            futures = [f for _, f in group if isinstance(f, asyncio.Future)]
            loop.call_later(self._deadline, self._expire, futures)
        self._submit_all(group)

    def _write_here(self, group: list[Pending]) -> bool:
        """Write ``group`` on the loop itself, if nothing has to be waited for: no other write
        of this process under way and the database's write lock free (an unsynced commit on a
        local file takes tens of microseconds, less than two thread hand-overs). False, having
        written nothing, otherwise."""
        if not self._chain_lock.acquire(blocking=False):
            return False
        try:
            error = self._write(group, wait=False)
        except WouldWait:
            return False
        finally:
            self._chain_lock.release()
        _settle([f for _, f in group if isinstance(f, asyncio.Future)], error)
        return True

    def _expire(self, futures: list[asyncio.Future[None]]) -> None:
        late = [f for f in futures if not f.done()]
        if late:
            for future in late:
                future.set_exception(AuditFailed("the audit trail did not answer in time"))
            self._cut()

    def record(self, event: dict[str, Any], within: float | None = None) -> None:
        """On a thread: as :meth:`wait`."""
        waiter = _Waiter()
        self._submit(event, waiter)
        if not waiter.done.wait(within):
            self._cut()
            raise AuditFailed("the audit trail did not answer in time")
        if waiter.error is not None:
            raise waiter.error

    def _cut(self) -> None:
        """Cut the writer off the database if it is in the middle of a write (PostgreSQL; a
        SQLite wait is bounded by its busy timeout)."""
        thread = self._thread
        if self._writing and thread is not None and thread.ident is not None:
            self.dep.db.interrupt(thread.ident)

    def post(self, event: dict[str, Any]) -> None:
        """Queue ``event`` without waiting (an answer sent before its work began: 429)."""
        self._submit(event, None)

    def system(self, name: str, account_uid: str, resources: dict[str, list[str]], **details: Any) -> None:
        """Record an action the server took by itself (the job runner's)."""
        if not self.enabled:
            return
        event = events.system_event(
            name, self.dep.clock.now(), self.dep.region, account_uid, resources, **details
        )
        try:
            self.record(event, within=SYSTEM_WAIT)
        except AuditFailed:
            log.error("the audit event of %s could not be written", name)

    def _submit(self, event: dict[str, Any], waiter: asyncio.Future[None] | _Waiter | None) -> None:
        self._submit_all([(event, waiter)])

    def _submit_all(self, group: list[Pending]) -> None:
        with self._lock:
            if self._thread is None or self._pid != os.getpid():
                self._start()
            self._pending.extend(group)
            self._lock.notify()

    def _start(self) -> None:
        # After a fork (a worker process) the parent's chain and thread are not ours.
        self._pid = os.getpid()
        self.node = f"{socket.gethostname()}:{self._pid}"
        self.chain_id = uuid.uuid4().hex
        self._seq = 0
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name="openkms-audit", daemon=True)
        self._thread.start()

    def close(self) -> None:
        """Write what is pending, mark the chain closed and stop the writer."""
        with self._lock:
            thread = self._thread
            if thread is None or self._pid != os.getpid():
                return
            self._stopping = True
            self._lock.notify()
        thread.join(timeout=10)
        if self._seq:
            try:
                self._close_chain()
            except Exception as exc:  # noqa: BLE001 - closing is best effort; verify reports it
                log.warning("could not mark the audit chain closed: %s", type(exc).__name__)
        if self.file is not None:
            self.file.close()
        self._thread = None

    def writable(self) -> bool:
        """Whether a call that changes state may act (reject mode): True unless the last write
        failed and a probe of the database (an empty write transaction on the chain's row)
        fails too, or the audit file in reject mode is still failing. On a pool thread."""
        if not self.failing or not self.reject:
            return True
        if self._file_failing:
            return False
        try:
            with self.dep.db.write(kept=False) as tx:
                repo.touch(tx, self.chain_id)
        except Exception:  # noqa: BLE001 - the database still refuses
            return False
        self.failing = False
        return True

    # -- the writer ----------------------------------------------------------------------------

    def _run(self) -> None:
        while True:
            with self._lock:
                while not self._pending and not self._stopping:
                    self._lock.wait()
                if not self._pending and self._stopping:
                    return
                group, self._pending = self._pending[:MAX_GROUP], self._pending[MAX_GROUP:]
            self._writing = True
            try:
                with self._chain_lock:
                    error = self._write(group)
            finally:
                self._writing = False
                self.dep.db.resume()  # if it was cut off (_cut), the next group may try again
            self._resolve(group, error)

    def _write(self, group: list[Pending], *, wait: bool = True) -> BaseException | None:
        """Link and store ``group``; the error its calls must fail with, or None. ``wait=False``:
        :class:`WouldWait`, nothing written, if the database's write lock is taken."""
        try:
            if self._seq and self.dep.clock.now() - self._started > CHAIN_SECONDS:
                self._close_chain()
                self.chain_id, self._seq = uuid.uuid4().hex, 0
            if self._seq == 0:
                self._begin()
            rows, lines = self._link([event for event, _ in group])
        except Exception as exc:  # noqa: BLE001 - no key (sealed) or a database gone
            return self._failed(exc, group)
        try:
            now = time.monotonic()
            checkpoint = now - self._head_at >= HEAD_SECONDS
            head = self._head(rows[-1][0], rows[-1][5]) if checkpoint else None
            self.dep.db.run_batch(repo.append(self.chain_id, rows, head), synced=self.synced, wait=wait)
            if checkpoint:
                self._head_at = now
        except WouldWait:
            raise
        except Exception as exc:  # noqa: BLE001 - any database failure
            self._reload()
            return self._failed(exc, group)
        self._seq, self._mac = rows[-1][0], rows[-1][5]
        self.written += len(rows)
        self._sealed_said = False
        if self.file is not None:
            # Lines the file missed go with the next write: it holds the chain whole once it
            # can be written again.
            self._backlog += lines
            try:
                self.file.write(self._backlog)
                self._backlog = []
                self._file_failing = False
            except OSError as exc:
                if len(self._backlog) > MAX_BACKLOG:
                    log.error(
                        "the audit file missed %d events (they are in the database)", len(self._backlog)
                    )
                    self._backlog = []
                log.error("the audit file %s could not be written: %s", self.file.path, exc.strerror)
                if self.file_reject:
                    self._file_failing = self.failing = True
                    self.failed += len(group)
                    return AuditFailed("the audit file could not be written")
        self.failing = self._file_failing
        return None

    def _failed(self, exc: BaseException, group: list[Pending]) -> BaseException | None:
        self.failing = True
        self.failed += len(group)
        if isinstance(exc, Sealed):
            # Every call of a sealed node is refused anyway: said once, not once per group.
            if not self._sealed_said:
                log.warning("the node is sealed: audit events cannot be written until it is unsealed")
                self._sealed_said = True
        else:
            log.error("%d audit events could not be written: %s", len(group), type(exc).__name__)
        return AuditFailed("the audit trail could not be written") if self.reject else None

    def _begin(self) -> None:
        """Open this process's chain: its first event names the heads of the chains before it,
        so a whole chain deleted later is missed by the next one's check."""
        self._kek_version, key = self.dep.keyring.derived(CHAIN_LABEL)
        self._started = self.dep.clock.now()
        genesis = events.genesis(self.chain_id)
        with self.dep.db.read() as tx:
            known = {c.chain: c.seq for c in repo.chains(tx)}
        repo.start(
            self.dep.db,
            repo.Chain(
                self.chain_id, self.node, self.dep.clock.now(), self._kek_version, 0, genesis,
                events.head_mac(key, self.chain_id, 0, genesis, 0), False, 0, genesis,
            ),
        )  # fmt: skip
        self._seq, self._mac = 0, genesis
        first = events.system_event(
            "AuditChainStarted", self.dep.clock.now(), self.dep.region, "", {}, node=self.node, chains=known
        )
        rows, lines = self._link([first])
        self.dep.db.run_batch(
            repo.append(self.chain_id, rows, self._head(rows[0][0], rows[0][5])), synced=self.synced
        )
        self._head_at = time.monotonic()
        self._seq, self._mac = rows[0][0], rows[0][5]
        self.written += 1
        self._backlog += lines

    def _close_chain(self) -> None:
        """The chain's final head, and the mark that no process writes it any more."""
        repo.move_head(self.dep.db, self.chain_id, self._seq, self._mac, self._head(self._seq, self._mac))
        repo.close(self.dep.db, self.chain_id)

    def _reload(self) -> None:
        """After a failed write (whose commit may still have happened): the head as stored."""
        try:
            found = repo.last_event(self.dep.db, self.chain_id)
        except Exception:  # noqa: BLE001 - still unreachable: the next group tries again
            return
        if found is not None:
            self._seq, self._mac = found

    def _head(self, seq: int, mac: bytes) -> bytes:
        return events.head_mac(self._chain_key(), self.chain_id, seq, mac, 0)

    def _chain_key(self) -> bytes:
        """The chain's MAC key, asked of the keyring each time: while the node is sealed there
        is none, and events cannot be written (their calls are answered 503 anyway)."""
        return self.dep.keyring.derived(CHAIN_LABEL, self._kek_version)[1]

    def _link(
        self, batch: list[dict[str, Any]]
    ) -> tuple[list[tuple[int, float, str, str, str, bytes]], list[bytes]]:
        rows = []
        lines = []
        seq, mac = self._seq, self._mac
        key = self._chain_key()
        for event in batch:
            self._name_user(event)
            seq += 1
            body = events.canonical(event)
            mac = events.link(key, mac, body)
            at = time.time()
            text = body.decode()
            rows.append((seq, at, event.get("recipientAccountId") or "", event["eventName"], text, mac))
            if self.file is not None:
                lines.append(
                    b'{"chain":"%s","seq":%d,"mac":"%s","event":%s}\n'
                    % (self.chain_id.encode(), seq, mac.hex().encode(), body)
                )
        return rows, lines

    def _name_user(self, event: dict[str, Any]) -> None:
        """A RAM user's name, looked up here (off the request path) and kept."""
        who = event.get("userIdentity") or {}
        if who.get("type") != "ram-user" or "userName" in who:
            return
        user_id = who.get("principalId", "")
        name = self._user_names.get(user_id)
        if name is None:
            try:
                user = principals.get_user_by_id(self.dep.db, user_id)
            except Exception:  # noqa: BLE001 - the name is a convenience; the id is recorded
                return
            if user is None:
                return
            name = self._user_names[user_id] = user.user_name
        who["userName"] = name

    def _resolve(self, group: list[Pending], error: BaseException | None) -> None:
        by_loop: dict[asyncio.AbstractEventLoop, list[asyncio.Future[None]]] = {}
        for _, waiter in group:
            if waiter is None:
                continue
            if isinstance(waiter, _Waiter):
                waiter.error = error
                waiter.done.set()
            else:
                by_loop.setdefault(waiter.get_loop(), []).append(waiter)
        for loop, futures in by_loop.items():
            # One wake-up of the loop per group, not one per event.
            with contextlib.suppress(RuntimeError):  # the loop has closed
                loop.call_soon_threadsafe(_settle, futures, error)


def _settle(futures: list[asyncio.Future[None]], error: BaseException | None) -> None:
    for future in futures:
        if future.done():
            continue
        if error is None:
            future.set_result(None)
        else:
            future.set_exception(error)


# -- checking and reading the trail ------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Finding:
    """One problem ``openkms audit verify`` reports: the chain, the seq, what is wrong."""

    chain: str
    seq: int
    problem: str

    def __str__(self) -> str:
        return f"chain {self.chain} seq {self.seq}: {self.problem}"


def verify(dep: Deployment, progress: Callable[[int], None] | None = None) -> tuple[int, int, list[Finding]]:
    """Check every chain: each event's MAC links it to the one before, seqs run without a gap,
    the head (under its own MAC) is where the events end, and every chain a later chain's first
    event names is still there and no shorter. Returns (chains, events checked, findings)."""
    findings: list[Finding] = []
    checked = 0
    all_chains = repo.chains(dep.db)
    by_id = {c.chain: c for c in all_chains}
    for chain in all_chains:
        try:
            key = dep.keyring.derived(CHAIN_LABEL, chain.kek_version)[1]
        except KeyError:
            findings.append(Finding(chain.chain, 0, f"its KEK version {chain.kek_version} is unknown"))
            continue
        if not events.same(
            events.head_mac(key, chain.chain, chain.seq, chain.mac, chain.pruned_seq), chain.head
        ):
            findings.append(Finding(chain.chain, chain.seq, "the chain's head was modified"))
        expected = chain.pruned_seq + 1
        mac = chain.pruned_mac if chain.pruned_seq else events.genesis(chain.chain)
        broken = False
        for row in repo.events(dep.db, chain.chain, after=chain.pruned_seq):
            checked += 1
            if progress is not None and checked % 1000 == 0:
                progress(checked)
            if broken:
                continue
            if row.seq != expected:
                findings.append(Finding(chain.chain, expected, f"missing (the next event is seq {row.seq})"))
                broken = True
                continue
            mac = events.link(key, mac, row.event.encode())
            if not events.same(mac, row.mac):
                findings.append(Finding(chain.chain, row.seq, "modified, or out of order"))
                broken = True
                continue
            if row.seq == chain.seq and not events.same(row.mac, chain.mac):
                findings.append(Finding(chain.chain, row.seq, "the chain's head does not match its event"))
            if row.seq == 1 and chain.pruned_seq == 0:
                _check_named(json.loads(row.event), by_id, chain.chain, findings)
            expected += 1
        # The head is a checkpoint: events may go on past it (written since), never end before.
        if not broken and expected - 1 < chain.seq:
            findings.append(
                Finding(
                    chain.chain,
                    expected,
                    f"missing: the events end at seq {expected - 1}, the head is at {chain.seq}",
                )
            )
    return len(all_chains), checked, findings


def _check_named(
    first: dict[str, Any], by_id: dict[str, repo.Chain], chain: str, findings: list[Finding]
) -> None:
    named = (first.get("requestParameters") or {}).get("chains") or {}
    for other, seq in named.items():
        found = by_id.get(other)
        if found is None:
            findings.append(
                Finding(other, 0, f"the whole chain is missing (chain {chain} saw it at seq {seq})")
            )
        elif found.seq < seq:
            findings.append(Finding(other, found.seq + 1, f"missing: chain {chain} saw it at seq {seq}"))


def export(
    dep: Deployment,
    *,
    since: float | None = None,
    until: float | None = None,
    account_uid: str | None = None,
    key_id: str | None = None,
) -> Iterator[dict[str, Any]]:
    """Events in time order, as JSON objects with their chain, seq and MAC (for a SIEM)."""
    for row in repo.window(dep.db, since, until, account_uid):
        event = json.loads(row.event)
        if key_id is not None and key_id not in (event.get("referencedResources") or {}).get(
            "ACS::KMS::Key", []
        ):
            continue
        yield {"chain": row.chain, "seq": row.seq, "mac": row.mac.hex(), "event": event}


def value_hashes(dep: Deployment, text: str) -> list[str]:
    """What ``text`` is recorded as under each KEK the deployment has (an auditor's search)."""
    out = []
    keyring = dep.keyring
    for version in keyring.versions:
        key = keyring.derived(VALUE_LABEL, version)[1]
        out.append("hmac-sha256:" + hmac.new(key, text.encode(), hashlib.sha256).hexdigest())
    return out


def follow(dep: Deployment, *, last: int, forever: bool, poll: float) -> Iterator[dict[str, Any]]:
    """The ``last`` newest events; then, if ``forever``, each new one of any chain as it is
    written (polling every ``poll`` seconds)."""
    seen: dict[str, int] = {}
    for row in repo.latest(dep.db, last):
        yield _record(row)
    for c in repo.chains(dep.db):
        seen[c.chain] = c.seq
    while forever:
        time.sleep(poll)
        for c in repo.chains(dep.db):
            for row in repo.events(dep.db, c.chain, after=seen.get(c.chain, 0)):
                seen[c.chain] = row.seq
                yield _record(row)


def _record(row: repo.EventRow) -> dict[str, Any]:
    return {"chain": row.chain, "seq": row.seq, "mac": row.mac.hex(), "event": json.loads(row.event)}


def prune(dep: Deployment, *, before: float, archive: Path) -> int:
    """Archive, then delete, the events written before ``before`` in closed chains (a running
    process's chain closes within CHAIN_SECONDS). ``archive`` (a new file, 0600) receives them as
    ``openkms audit export`` writes them and is synced before anything is deleted. Each chain's
    row then records where its events begin, under its head's MAC. The number deleted."""
    plan = []
    for c in repo.chains(dep.db):
        last = repo.last_before(dep.db, c.chain, before) if c.closed else None
        if last is not None and last.seq > c.pruned_seq:
            plan.append((c, last))
    fd = os.open(archive, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        for c, last in plan:
            for row in repo.events(dep.db, c.chain, after=c.pruned_seq):
                if row.seq > last.seq:
                    break
                out.write(json.dumps(_record(row), separators=(",", ":"), ensure_ascii=False) + "\n")
        out.flush()
        os.fsync(out.fileno())
    removed = 0
    for c, last in plan:
        key = dep.keyring.derived(CHAIN_LABEL, c.kek_version)[1]
        head = events.head_mac(key, c.chain, c.seq, c.mac, last.seq)
        with dep.db.write(kept=False) as tx:
            removed += repo.prune(tx, c.chain, last.seq, last.mac, head)
    return removed
