"""Timed work (key destruction and rotation, material expiry, secret purging, nonce and token
clean-up), run by one process per deployment under a lease."""

from __future__ import annotations

from openkms.jobs.runner import JobContext, JobRunner, LeaseLost, RunnerThread
from openkms.jobs.standard import build_runner

__all__ = ["JobContext", "JobRunner", "LeaseLost", "RunnerThread", "build_runner"]
