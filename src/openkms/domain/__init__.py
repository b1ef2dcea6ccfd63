"""The rules of Alibaba's KMS, free of I/O: key specs, states, ids and ARNs, the CiphertextBlob
format, aliases, tags, filters, key-policy grammar, secrets, RAM identities, errors and time."""

__all__ = [
    "algorithms",
    "aliases",
    "arn",
    "byok",
    "ciphertext",
    "clock",
    "datakey",
    "errors",
    "filters",
    "ids",
    "key",
    "keypolicy",
    "keyspec",
    "keystate",
    "password",
    "ram",
    "secret",
    "tags",
    "text",
]
