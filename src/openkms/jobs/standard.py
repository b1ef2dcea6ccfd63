"""The jobs every deployment runs. Other areas add theirs here."""

from __future__ import annotations

from openkms.jobs.runner import JobContext, JobRunner
from openkms.service import byok, lifecycle
from openkms.service.deployment import Deployment
from openkms.service.keys import KeyService
from openkms.service.secrets import SecretService
from openkms.service.versions import VersionService

DESTROY_KEYS_EVERY = 60.0
PRUNE_NONCES_EVERY = 60.0
ROTATE_KEYS_EVERY = 60.0
PURGE_SECRETS_EVERY = 60.0
EXPIRE_MATERIAL_EVERY = 60.0
PRUNE_IMPORT_TOKENS_EVERY = 3600.0


def build_runner(dep: Deployment, keys: KeyService, *, holder: str | None = None) -> JobRunner:
    """A runner over ``dep`` with the standard jobs registered."""
    runner = JobRunner(dep.db, dep.clock, holder=holder, lease_seconds=dep.settings.job_lease)
    versions = VersionService(dep, keys)

    def destroy_deleted_keys(ctx: JobContext) -> int:
        return lifecycle.destroy_due_keys(keys, ctx.now, ctx.fence)

    def prune_nonces(ctx: JobContext) -> int:
        # Deleting expired nonces twice is harmless, so this job needs no fence.
        return dep.nonces.prune(ctx.now)

    def rotate_keys(ctx: JobContext) -> int:
        # Each rotation re-reads its key and commits only over an unchanged revision, so a
        # second runner racing this one cannot rotate a key twice: no fence needed.
        return versions.rotate_due()

    def expire_key_material(ctx: JobContext) -> int:
        return byok.expire_due_material(keys, ctx.now, ctx.fence)

    def prune_import_tokens(ctx: JobContext) -> int:
        # Deleting long-expired tokens twice is harmless: no fence needed.
        return byok.prune_import_tokens(keys, ctx.now)

    runner.register("destroy-deleted-keys", DESTROY_KEYS_EVERY, destroy_deleted_keys)
    runner.register("rotate-keys", ROTATE_KEYS_EVERY, rotate_keys)
    runner.register("prune-nonces", PRUNE_NONCES_EVERY, prune_nonces)

    secret_service = SecretService(dep, keys)

    def purge_deleted_secrets(ctx: JobContext) -> int:
        return secret_service.purge_due(ctx.now, ctx.fence)

    runner.register("purge-deleted-secrets", PURGE_SECRETS_EVERY, purge_deleted_secrets)
    runner.register("expire-key-material", EXPIRE_MATERIAL_EVERY, expire_key_material)
    runner.register("prune-import-tokens", PRUNE_IMPORT_TOKENS_EVERY, prune_import_tokens)
    return runner
