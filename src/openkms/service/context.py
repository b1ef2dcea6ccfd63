"""The services of one process, built once over a deployment, and what a handler is given."""

from __future__ import annotations

from dataclasses import dataclass

from openkms.service.aliases import AliasService
from openkms.service.asymmetric import AsymmetricService
from openkms.service.audit import AuditTrail
from openkms.service.authz import Authorizer
from openkms.service.byok import ByokService
from openkms.service.caches import CacheBounds, Caches
from openkms.service.deployment import Deployment
from openkms.service.instances import InstanceService
from openkms.service.key_policy import KeyPolicyService
from openkms.service.keys import KeyService
from openkms.service.lifecycle import LifecycleService
from openkms.service.ram import RamService
from openkms.service.ram_policies import PolicyService
from openkms.service.rotation import RotationService
from openkms.service.secrets import SecretService
from openkms.service.sts import StsService
from openkms.service.symmetric import SymmetricService
from openkms.service.tags import TagService
from openkms.service.tenancy import Caller, Scope
from openkms.service.versions import VersionService

__all__ = ["CallContext", "Caller", "Scope", "Services", "build_services"]


@dataclass(frozen=True, slots=True)
class Services:
    """One per process: the deployment, its caches and the services built over them."""

    deployment: Deployment
    caches: Caches
    keys: KeyService
    lifecycle: LifecycleService
    versions: VersionService
    aliases: AliasService
    tags: TagService
    key_policies: KeyPolicyService
    byok: ByokService
    asymmetric: AsymmetricService
    symmetric: SymmetricService
    secrets: SecretService
    rotation: RotationService
    ram: RamService
    ram_policies: PolicyService
    authz: Authorizer
    sts: StsService
    audit: AuditTrail
    instances: InstanceService


def build_services(dep: Deployment, bounds: CacheBounds | None = None) -> Services:
    """Every service over ``dep``, sharing one set of caches (bounds from the settings unless
    given). The server, the job runner and the command line all start here."""
    caches = Caches(dep.db.generation, bounds if bounds is not None else CacheBounds.of(dep.settings))
    keys = KeyService(dep, caches)
    asymmetric = AsymmetricService(keys, caches)
    symmetric = SymmetricService(keys, asymmetric, caches)
    secrets = SecretService(keys, symmetric, caches)
    ram = RamService(dep)
    instances = InstanceService(dep, caches)
    return Services(
        deployment=dep,
        caches=caches,
        keys=keys,
        lifecycle=LifecycleService(keys, caches),
        versions=VersionService(keys),
        aliases=AliasService(keys),
        tags=TagService(keys),
        key_policies=KeyPolicyService(keys),
        byok=ByokService(keys, caches),
        asymmetric=asymmetric,
        symmetric=symmetric,
        secrets=secrets,
        rotation=RotationService(secrets, ram),
        ram=ram,
        ram_policies=PolicyService(dep),
        authz=Authorizer(dep, caches, keys),
        sts=StsService(dep, caches),
        audit=AuditTrail(dep),
        instances=instances,
    )


@dataclass(frozen=True, slots=True)
class CallContext:
    """What a handler is given: the services, and the request's scope (its caller, whose
    account bare ids and names resolve in, and its action)."""

    services: Services
    scope: Scope

    @property
    def caller(self) -> Caller:
        return self.scope.caller
