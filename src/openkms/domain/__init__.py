"""The rules of Alibaba's KMS, free of I/O: key specs, states, ids and ARNs, the CiphertextBlob
format, aliases, tags, filters, the policy language and access decisions, secrets, errors and
time."""

__all__ = [
    "access",
    "algorithms",
    "aliases",
    "arn",
    "authorization",
    "byok",
    "ciphertext",
    "clock",
    "conditions",
    "datakey",
    "errors",
    "filters",
    "ids",
    "key",
    "keypolicy",
    "keyspec",
    "keystate",
    "password",
    "permissions",
    "policy",
    "secret",
    "system_policies",
    "tags",
    "text",
    "wildcard",
]
