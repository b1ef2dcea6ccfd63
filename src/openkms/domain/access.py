"""Who asks for what: the principal of a request, what the request says about itself (the values
policy conditions read), and the (action, resource) pairs it must be allowed.

These are plain values. The server builds them from the authenticated request and the resolved
resources; :mod:`openkms.domain.policy` and :mod:`openkms.domain.authorization` only read them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from ipaddress import IPv4Address, IPv6Address
from types import MappingProxyType
from typing import Any

from openkms.domain.arn import account_root_arn, role_arn, role_session_arn, user_arn

# A compiled policy (domain/policy.py's Policy). The request's types carry one without importing
# the engine that reads them, which imports these types.
Policy = Any

__all__ = ["NO_TAGS", "Check", "IPAddress", "Principal", "PrincipalKind", "RequestContext"]

IPAddress = IPv4Address | IPv6Address
NO_TAGS: Mapping[str, str] = MappingProxyType({})


class PrincipalKind(StrEnum):
    ROOT = "root"  # the account itself (a root AccessKey)
    USER = "user"  # a RAM user
    ASSUMED_ROLE = "assumed-role"  # an STS session of a role


@dataclass(frozen=True, slots=True)
class Principal:
    """The caller. ``arn`` is ``acs:ram::<uid>:root``, ``…:user/<name>`` or, for a session,
    ``…:role/<role>/<session>``; ``role_arn`` is the session's role (``…:role/<role>``), which is
    what key, secret and trust policies name."""

    account_id: str
    kind: PrincipalKind
    arn: str
    role_arn: str | None = None

    @classmethod
    def root(cls, account_id: str) -> Principal:
        return cls(account_id, PrincipalKind.ROOT, account_root_arn(account_id))

    @classmethod
    def user(cls, account_id: str, name: str) -> Principal:
        return cls(account_id, PrincipalKind.USER, user_arn(account_id, name))

    @classmethod
    def session(cls, account_id: str, role: str, session: str) -> Principal:
        return cls(
            account_id,
            PrincipalKind.ASSUMED_ROLE,
            role_session_arn(account_id, role, session),
            role_arn(account_id, role),
        )


@dataclass(frozen=True, slots=True)
class RequestContext:
    """One request, apart from the resources it touches.

    ``source_ip`` is the client's address (absent when unknown), ``current_time`` the time the
    request was received (timezone-aware), ``secure_transport`` whether it came over TLS,
    ``encryption_algorithm`` the algorithm the request names (``kms:EncryptionAlgorithm``), and
    ``session_policy`` the policy an STS session was given when it was created, if any.
    ``acs:MFAPresent`` is always false (an AccessKey carries no MFA) and ``acs:SourceVpc`` always
    absent (openkms runs outside any VPC of Alibaba's), so neither has a field.
    """

    principal: Principal
    current_time: datetime
    source_ip: IPAddress | None = None
    secure_transport: bool = False
    encryption_algorithm: str | None = None
    session_policy: Policy | None = None


@dataclass(frozen=True, slots=True)
class Check:
    """One (action, resource) pair a request must be allowed.

    ``action`` is a RAM action (``kms:Encrypt``); ``resource`` the ARN it acts on, or ``*`` for
    actions on no resource; ``policy`` the resource's own policy: the key's or secret's policy
    (for an alias, the policy of the key it names), a role's trust policy for ``sts:AssumeRole``,
    or ``None`` (a container, ``*``, or a resource that does not exist). ``tags`` are the tags of
    the key or secret acted on (for an alias, of its key): what ``kms:tag`` conditions read.
    """

    action: str
    resource: str = "*"
    policy: Policy | None = None
    tags: Mapping[str, str] = field(default_factory=lambda: NO_TAGS)
