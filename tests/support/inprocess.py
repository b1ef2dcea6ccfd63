"""An openkms deployment opened in the test process, on a FixedClock: for service-level and job
tests that must move time or run thousands of operations without HTTP."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from openkms.config import Settings
from openkms.domain.clock import FixedClock
from openkms.domain.key import Key
from openkms.service.context import Services, build_services
from openkms.service.deployment import Deployment, init_deployment, open_deployment, open_in_memory
from openkms.service.keys import KeyService
from openkms.service.tenancy import Scope, root_scope

START = 1_800_000_000.0


@dataclass
class World:
    dep: Deployment
    services: Services
    clock: FixedClock

    @property
    def keys(self) -> KeyService:
        return self.services.keys

    @property
    def scope(self) -> Scope:
        """Requests of the first account's root."""
        return root_scope(self.dep.account_id)

    def another_process(self) -> Services:
        """Services with caches of their own over the same deployment, as another worker
        process of the node has."""
        return build_services(self.dep)

    def create_key(self, spec: str = "Aliyun_AES_256", origin: str = "Aliyun_KMS", usage: str | None = None) -> Key:
        return self.keys.create(
            key_spec=spec, key_usage=usage, origin=origin, protection_level="SOFTWARE",
            description="", enable_automatic_rotation=False, rotation_interval=None,
            tag_map={}, account_uid=self.dep.account_id,
        )

    def close(self) -> None:
        self.dep.close()


def open_memory_world() -> World:
    """A deployment held in memory only (in-memory database and root key): for service tests
    that need no data directory, no restart and no second process."""
    clock = FixedClock(START)
    dep = open_in_memory(clock)
    return World(dep, build_services(dep), clock)


def open_world(data_dir: Path, database: str | None = None, *, create: bool = True) -> World:
    """A new deployment made on ``data_dir`` (and ``database``, a PostgreSQL URL, when given) as
    `openkms init` makes one, or with ``create`` off the existing one there."""
    settings = Settings(data_dir=data_dir, database=database, root_key_file=None, region="cn-hangzhou")
    clock = FixedClock(START)
    dep = init_deployment(settings, clock)[0] if create else open_deployment(settings, clock)
    return World(dep, build_services(dep), clock)


def run_jobs_offline(data_dir: Path, database: str | None, at: float | None = None,
                     advance: float = 0.0) -> list[str]:
    """Run one tick of the standard jobs over a stopped server's data, with the clock set to
    ``at`` (or moved on by ``advance`` seconds): the server's own clock cannot be moved.
    Returns the names of the jobs that ran."""
    from openkms.jobs import build_runner

    world = open_world(data_dir, database, create=False)
    try:
        world.clock.at = at if at is not None else world.clock.now() + advance
        return list(build_runner(world.services, holder="test").tick())
    finally:
        world.close()
