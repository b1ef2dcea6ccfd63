"""The job runner: timed lifecycle work, done by exactly one process of a deployment.

Jobs are registered by name with an interval. :meth:`JobRunner.tick` runs every job that is due,
but only while this process holds the ``jobs`` lease (a row of the ``leases`` table, renewed on
each tick). Every worker process of every node runs a runner; one of them holds the lease, and
when it dies another takes over once the lease lapses.

Rules for a job (so that any process may run it, any number of times, and die at any point):

* it is a function of ``(ctx.now, the store)``: idempotent, with its own transactions;
* each of its write transactions first calls ``ctx.fence(tx)``, which raises
  :class:`LeaseLost` unless this runner still holds the lease (checked, and on PostgreSQL
  locked, inside that transaction), so a runner that was paused past its lease cannot write;
* it keeps no state between runs: when jobs last ran is memory only, so after a restart every
  job runs at the first tick.

Time comes from the deployment's clock; tests drive :meth:`tick` directly with a FixedClock.
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass

from openkms.domain.clock import Clock
from openkms.store import Conflict, Database, Tx, leases

log = logging.getLogger("openkms.jobs")

LEASE_NAME = "jobs"
LEASE_SECONDS = 30.0


class LeaseLost(Exception):
    """This runner no longer holds the job lease; the job must stop writing."""


@dataclass(frozen=True, slots=True)
class JobContext:
    """What a job is given: the time of this tick and the lease fence for its transactions."""

    now: float
    fence: Callable[[Tx], None]


Job = Callable[[JobContext], object]


@dataclass(slots=True)
class _Entry:
    name: str
    interval: float
    run: Job
    next_due: float = float("-inf")


class JobRunner:
    def __init__(
        self,
        db: Database,
        clock: Clock,
        *,
        holder: str | None = None,
        lease_name: str = LEASE_NAME,
        lease_seconds: float = LEASE_SECONDS,
    ) -> None:
        self.db = db
        self.clock = clock
        self.holder = holder or f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"
        self.lease_name = lease_name
        self.lease_seconds = lease_seconds
        self._jobs: dict[str, _Entry] = {}
        # Read by the metrics: wall time each job last ran to completion here, and whether this
        # runner held the lease at its last tick.
        self.last_success: dict[str, float] = {}
        self.holding = False

    def register(self, name: str, interval: float, run: Job) -> None:
        """Add a job run every ``interval`` seconds (first at the next tick)."""
        if name in self._jobs:
            raise ValueError(f"job {name!r} is already registered")
        self._jobs[name] = _Entry(name, interval, run)

    @property
    def job_names(self) -> list[str]:
        return list(self._jobs)

    def tick(self) -> list[str]:
        """Run each due job once, if this runner holds (or can take) the lease.

        Returns the names of the jobs that ran to completion. A job that fails is logged and
        tried again after its interval; losing the lease stops the tick.
        """
        now = self.clock.now()
        self.holding = self.acquire(now)
        if not self.holding:
            return []
        done: list[str] = []
        for entry in self._jobs.values():
            if entry.next_due > now:
                continue
            try:
                entry.run(JobContext(now, self.fence))
            except LeaseLost:
                log.warning("job %s stopped: the job lease was lost", entry.name)
                return done
            except Exception:  # one failing job must not stop the others
                log.exception("job %s failed; it runs again in %.0f s", entry.name, entry.interval)
            else:
                done.append(entry.name)
                self.last_success[entry.name] = self.clock.now()
            entry.next_due = now + entry.interval
        return done

    def acquire(self, now: float) -> bool:
        """Take or renew the lease; False while another live holder has it."""
        # The lease row is never kept by a cache: taking it leaves the node's kept reads valid.
        with self.db.write(kept=False) as tx:
            if leases.renew(tx, self.lease_name, self.holder, now, self.lease_seconds):
                return True
        try:
            with self.db.write(kept=False) as tx:
                leases.create(tx, self.lease_name, self.holder, now, self.lease_seconds)
            return True
        except Conflict:
            return False

    def fence(self, tx: Tx) -> None:
        """Raise LeaseLost unless this runner holds the lease, inside the write transaction ``tx``.

        Holding it, the lease is extended: a long job that keeps writing keeps its lease.
        """
        now = self.clock.now()
        if not leases.extend(tx, self.lease_name, self.holder, now, self.lease_seconds):
            raise LeaseLost()

    def release(self) -> None:
        """Give the lease up (on shutdown), so another process need not wait for it to lapse."""
        with self.db.write(kept=False) as tx:
            leases.release(tx, self.lease_name, self.holder)


class RunnerThread:
    """Ticks a runner every ``period`` seconds on a daemon thread, for ``openkms serve``."""

    def __init__(self, runner: JobRunner, period: float = 5.0) -> None:
        self.runner = runner
        self.period = period
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="openkms-jobs", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.runner.tick()
            except Exception:  # a database outage must not end the loop
                log.exception("job tick failed")
            self._stop.wait(self.period)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=30)
        try:
            self.runner.release()
        except Exception:  # noqa: BLE001 - the lease lapses on its own anyway
            log.warning("could not release the job lease")
