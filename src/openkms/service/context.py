"""What a handler is given: the deployment's services, who is calling, and the request id."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from openkms.service.aliases import AliasService
    from openkms.service.asymmetric import AsymmetricService
    from openkms.service.deployment import Deployment
    from openkms.service.key_policy import KeyPolicyService
    from openkms.service.keys import KeyService
    from openkms.service.secrets import SecretService
    from openkms.service.tags import TagService
    from openkms.service.versions import VersionService


@dataclass(frozen=True, slots=True)
class Caller:
    access_key_id: str
    request_id: str


@dataclass
class Services:
    """One per process: the deployment and the services built over it."""

    deployment: Deployment
    keys: KeyService
    versions: VersionService
    aliases: AliasService
    tags: TagService
    key_policies: KeyPolicyService
    asymmetric: AsymmetricService
    secrets: SecretService


@dataclass(frozen=True, slots=True)
class CallContext:
    services: Services
    caller: Caller

    @property
    def keys(self) -> KeyService:
        return self.services.keys
