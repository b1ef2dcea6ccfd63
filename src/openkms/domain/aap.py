"""The application access decision: may a client key, through its access point's policies, do
``action`` on ``resource`` of an instance, from ``source``? Pure; the instance gateway calls it
for every request it has authenticated.

A policy grants when all of these hold:

- it applies to the instance the request reached (its ``KmsInstance`` scope);
- one of its permission templates allows the action: ``CryptoServiceKeyUser`` the cryptographic
  operations on keys (and GenerateRandom, which names no key), ``CryptoServiceSecretUser``
  GetSecretValue;
- one of its resources matches: ``key/*`` or ``key/<KeyId>`` for a key, ``secret/*`` or
  ``secret/<SecretName>`` for a secret (GenerateRandom needs no resource);
- the source address lies in one of the networks of the network rules it names. A policy that
  names no rule admits no address: access is granted to networks, never by their absence.

Any granting policy allows; there is no deny. Policies are given with their network rules
already resolved (:class:`GrantingPolicy`), so nothing here reads a store.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum

from openkms.domain.instance import KEY_USER, SECRET_USER

__all__ = [
    "KEY_ACTIONS",
    "SECRET_ACTIONS",
    "Denial",
    "GrantingPolicy",
    "allows",
    "decide",
    "networks_of",
    "template_for",
]

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address

# What CryptoServiceKeyUser allows: the instance API's operations on keys.
KEY_ACTIONS = frozenset(
    {
        "Encrypt",
        "Decrypt",
        "GenerateDataKey",
        "GenerateDataKeyPair",
        "GenerateDataKeyPairWithoutPlaintext",
        "Sign",
        "Verify",
        "GetPublicKey",
        "GenerateRandom",
        "Hash",
        "AdvanceEncrypt",
        "AdvanceDecrypt",
        "AdvanceGenerateDataKey",
        "AdvanceGenerateDataKeyPair",
        "AdvanceGenerateDataKeyPairWithoutPlaintext",
    }
)
# What CryptoServiceSecretUser allows.
SECRET_ACTIONS = frozenset({"GetSecretValue"})
# Actions that name no key or secret.
_UNNAMED = frozenset({"GenerateRandom", "Hash"})


class Denial(StrEnum):
    """Why no policy granted: the first reason met in this order wins."""

    NO_POLICY = "no policy of the access point applies to this instance"
    ACTION = "no policy allows the action"
    RESOURCE = "no policy allows the action on this resource"
    NETWORK = "the source address is outside the policies' network rules"


@dataclass(frozen=True, slots=True)
class GrantingPolicy:
    """An AAP policy with its network rules resolved to networks."""

    name: str
    kms_instance: str
    permissions: frozenset[str]
    resources: tuple[str, ...]
    networks: tuple[Network, ...]


def networks_of(cidrs: Iterable[str]) -> tuple[Network, ...]:
    """Parse stored SourcePrivateIp entries (canonical CIDRs) into networks."""
    return tuple(ipaddress.ip_network(c, strict=False) for c in cidrs)


def template_for(action: str) -> str | None:
    """The permission template that allows ``action``; None for an action no template allows."""
    if action in KEY_ACTIONS:
        return KEY_USER
    if action in SECRET_ACTIONS:
        return SECRET_USER
    return None


def _resource_matches(patterns: Sequence[str], resource: str | None) -> bool:
    if resource is None:
        return True
    kind = resource.split("/", 1)[0]
    return any(p == resource or p == f"{kind}/*" for p in patterns)


def _address(source: str | Address | None) -> Address | None:
    if source is None or isinstance(source, ipaddress.IPv4Address | ipaddress.IPv6Address):
        return source
    try:
        address = ipaddress.ip_address(source)
    except ValueError:
        return None
    mapped = getattr(address, "ipv4_mapped", None)
    return mapped if mapped is not None else address


def decide(
    policies: Iterable[GrantingPolicy],
    *,
    instance_id: str,
    action: str,
    resource: str | None,
    source: str | Address | None,
) -> Denial | None:
    """None if some policy grants ``action`` on ``resource`` (``key/<KeyId>``,
    ``secret/<SecretName>``, or None for an action that names neither) of ``instance_id`` to a
    caller at ``source``; otherwise why not. An unknown or unparsable source is outside every
    network."""
    template = template_for(action)
    if resource is None and action not in _UNNAMED:
        return Denial.RESOURCE
    address = _address(source)
    reason = Denial.NO_POLICY
    for policy in policies:
        if policy.kms_instance != instance_id:
            continue
        if template is None or template not in policy.permissions:
            reason = min(reason, Denial.ACTION, key=_ORDER.index)
            continue
        if not _resource_matches(policy.resources, resource):
            reason = min(reason, Denial.RESOURCE, key=_ORDER.index)
            continue
        if address is not None and any(
            address in net for net in policy.networks if net.version == address.version
        ):
            return None
        reason = Denial.NETWORK
    return reason


# Later reasons say more about how close a policy came to granting.
_ORDER = [Denial.NETWORK, Denial.RESOURCE, Denial.ACTION, Denial.NO_POLICY]


def allows(
    policies: Iterable[GrantingPolicy],
    *,
    instance_id: str,
    action: str,
    resource: str | None,
    source: str | Address | None,
) -> bool:
    """Whether :func:`decide` grants."""
    return decide(policies, instance_id=instance_id, action=action, resource=resource, source=source) is None
