"""The jobs every deployment runs, registered on one runner over the process's services."""

from __future__ import annotations

from openkms.jobs.runner import JobContext, JobRunner
from openkms.service.context import Services

DESTROY_KEYS_EVERY = 60.0
PRUNE_NONCES_EVERY = 60.0
ROTATE_KEYS_EVERY = 60.0
PURGE_SECRETS_EVERY = 60.0
EXPIRE_MATERIAL_EVERY = 60.0
PRUNE_IMPORT_TOKENS_EVERY = 3600.0
ROTATE_SECRETS_EVERY = 60.0


def build_runner(services: Services, *, holder: str | None = None) -> JobRunner:
    """A runner with the standard jobs registered, over the same services as the requests."""
    dep = services.deployment
    runner = JobRunner(dep.db, dep.clock, holder=holder, lease_seconds=dep.settings.job_lease)
    # What the jobs do to keys and secrets goes into the audit trail, one event per action.
    report = services.audit.system

    def destroy_deleted_keys(ctx: JobContext) -> int:
        destroyed = services.lifecycle.destroy_due_keys(ctx.now, ctx.fence, report=report)
        if destroyed:
            dep.db.checkpoint()  # the destroyed material's older pages out of the -wal file
        return destroyed

    def prune_nonces(ctx: JobContext) -> int:
        # Deleting expired nonces twice is harmless, so this job needs no fence.
        return dep.nonces.prune(ctx.now)

    def rotate_keys(ctx: JobContext) -> int:
        # Each rotation re-reads its key and commits only over an unchanged revision, so a
        # second runner racing this one cannot rotate a key twice: no fence needed.
        return services.versions.rotate_due(report=report)

    def purge_deleted_secrets(ctx: JobContext) -> int:
        return services.secrets.purge_due(ctx.now, ctx.fence, report=report)

    def expire_key_material(ctx: JobContext) -> int:
        return services.byok.expire_due_material(ctx.now, ctx.fence, report=report)

    def rotate_secrets(ctx: JobContext) -> int:
        # Each step of a rotation is a compare-and-set on the step it read, inside a fenced
        # transaction; what the target is told is idempotent, so a step run twice is harmless.
        return services.rotation.rotate_due(ctx.now, ctx.fence, report=report)

    def prune_import_tokens(ctx: JobContext) -> int:
        # Deleting long-expired tokens twice is harmless: no fence needed.
        return services.byok.prune_import_tokens(ctx.now)

    runner.register("destroy-deleted-keys", DESTROY_KEYS_EVERY, destroy_deleted_keys)
    runner.register("rotate-keys", ROTATE_KEYS_EVERY, rotate_keys)
    runner.register("prune-nonces", PRUNE_NONCES_EVERY, prune_nonces)
    runner.register("purge-deleted-secrets", PURGE_SECRETS_EVERY, purge_deleted_secrets)
    runner.register("expire-key-material", EXPIRE_MATERIAL_EVERY, expire_key_material)
    runner.register("prune-import-tokens", PRUNE_IMPORT_TOKENS_EVERY, prune_import_tokens)
    runner.register("rotate-secrets", ROTATE_SECRETS_EVERY, rotate_secrets)
    return runner
