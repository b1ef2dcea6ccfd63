"""The job runner (jobs/runner.py): intervals on an injected clock, one lease holder at a time,
a fence that stops a runner which lost its lease, and failures that do not stop other jobs."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from openkms.jobs import JobContext, JobRunner, LeaseLost
from openkms.store.schema import leases
from tests.support.inprocess import World


def _runner(world: World, holder: str) -> JobRunner:
    return JobRunner(world.dep.db, world.clock, holder=holder, lease_seconds=30)


def test_jobs_run_on_their_interval(world: World) -> None:
    """A job runs at the first tick, then again only once its interval has passed."""
    runner = _runner(world, "a")
    seen: list[float] = []
    runner.register("every-minute", 60, lambda ctx: seen.append(ctx.now))
    start = world.clock.now()
    runner.tick()
    world.clock.advance(59)
    runner.tick()
    world.clock.advance(1)
    runner.tick()
    assert [start, start + 60] == seen


def test_names_are_unique(world: World) -> None:
    """Registering two jobs under one name is a programming error."""
    runner = _runner(world, "a")
    runner.register("x", 1, lambda ctx: None)
    with pytest.raises(ValueError):
        runner.register("x", 1, lambda ctx: None)


def test_only_one_holder_runs_jobs(world: World) -> None:
    """Two runners over one database: only the lease holder runs; the other takes over when it lapses."""
    ran: list[str] = []
    a, b = _runner(world, "a"), _runner(world, "b")
    a.register("job", 1, lambda ctx: ran.append("a"))
    b.register("job", 1, lambda ctx: ran.append("b"))
    a.tick()
    b.tick()
    world.clock.advance(10)
    a.tick()  # renews the lease
    b.tick()
    world.clock.advance(31)  # a stops ticking: its lease lapses
    b.tick()
    assert ran == ["a", "a", "b"]
    with world.dep.db.read() as tx:
        assert tx.scalar(select(leases.c.holder)) == "b"


def test_fence_stops_a_runner_that_lost_its_lease(world: World) -> None:
    """A job whose runner was paused past its lease cannot write: fence raises LeaseLost."""
    a, b = _runner(world, "a"), _runner(world, "b")
    assert a.acquire(world.clock.now())
    world.clock.advance(31)
    assert b.acquire(world.clock.now())
    with world.dep.db.write() as tx, pytest.raises(LeaseLost):
        a.fence(tx)
    with world.dep.db.write() as tx:
        b.fence(tx)


def test_lost_lease_ends_the_tick(world: World) -> None:
    """When a job's fence fails, the tick stops and later jobs do not run."""
    a, b = _runner(world, "a"), _runner(world, "b")
    ran: list[str] = []

    def steal_then_write(ctx: JobContext) -> None:
        world.clock.advance(31)
        assert b.acquire(world.clock.now())
        with world.dep.db.write() as tx:
            ctx.fence(tx)
        ran.append("wrote")

    a.register("first", 60, steal_then_write)
    a.register("second", 60, lambda ctx: ran.append("second"))
    assert a.tick() == []
    assert ran == []


def test_fence_extends_the_lease(world: World) -> None:
    """A long job that keeps writing keeps its lease: each fence pushes the expiry forward."""
    a, b = _runner(world, "a"), _runner(world, "b")
    a.acquire(world.clock.now())
    for _ in range(5):
        world.clock.advance(20)
        with world.dep.db.write() as tx:
            a.fence(tx)
    assert not b.acquire(world.clock.now())


def test_a_failing_job_does_not_stop_the_others(world: World) -> None:
    """An exception in one job is logged; the next job still runs and the failed one retries later."""
    runner = _runner(world, "a")
    calls: list[str] = []

    def broken(ctx: JobContext) -> None:
        calls.append("broken")
        raise RuntimeError("boom")

    runner.register("broken", 10, broken)
    runner.register("fine", 10, lambda ctx: calls.append("fine"))
    assert runner.tick() == ["fine"]
    world.clock.advance(10)
    runner.tick()
    assert calls == ["broken", "fine", "broken", "fine"]


def test_release_hands_over_at_once(world: World) -> None:
    """A runner that shuts down releases the lease; another takes it without waiting."""
    a, b = _runner(world, "a"), _runner(world, "b")
    assert a.acquire(world.clock.now())
    a.release()
    assert b.acquire(world.clock.now())
