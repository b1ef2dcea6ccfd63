"""Use cases over the store: one service class per area, all built once per process by
:func:`openkms.service.context.build_services` over a :class:`~openkms.service.deployment.Deployment`
and sharing one :class:`~openkms.service.caches.Caches`."""

__all__ = [
    "access_keys",
    "accounts",
    "aliases",
    "asymmetric",
    "backup",
    "byok",
    "caches",
    "context",
    "deployment",
    "due",
    "keks",
    "key_policy",
    "keys",
    "lifecycle",
    "nonces",
    "ram",
    "ram_policies",
    "rekey",
    "secrets",
    "sts",
    "symmetric",
    "tags",
    "tenancy",
    "versions",
]
