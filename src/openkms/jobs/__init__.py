"""Timed lifecycle work (key destruction, nonce clean-up; later rotation and material expiry),
run by one process per deployment under a lease. May import service and store, never api,
wire or server."""

from __future__ import annotations

from openkms.jobs.runner import JobContext, JobRunner, LeaseLost, RunnerThread
from openkms.jobs.standard import build_runner

__all__ = ["JobContext", "JobRunner", "LeaseLost", "RunnerThread", "build_runner"]
