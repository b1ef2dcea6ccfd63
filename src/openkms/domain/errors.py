"""Errors of the domain rules. They know nothing of HTTP: :mod:`openkms.api.errors` maps each
class to an entry of the wire catalogue, looked up along the MRO.

Every class here is a client error by construction: the caller asked for something the rules
refuse. Anything else raised below the api layer is an internal failure.
"""

from __future__ import annotations


class DomainError(Exception):
    """Base of every rule violation; ``detail`` is safe to show to the caller."""

    def __init__(self, detail: str | None = None) -> None:
        super().__init__(detail or type(self).__name__)
        self.detail = detail


class Sealed(DomainError):
    """The node is sealed: its root of trust is not unsealed, so no key-encryption key is in
    memory (503 until an operator runs `openkms operator unseal`)."""

    def __init__(self, detail: str | None = None) -> None:
        super().__init__(
            detail
            or "The KMS node is sealed: an operator must unseal it (openkms operator unseal) "
            "before keys and secrets can be used."
        )


class NotFound(DomainError):
    """A named resource does not exist."""


class KeyNotFound(NotFound):
    pass


class KeyVersionNotFound(NotFound):
    pass


class AliasNotFound(NotFound):
    pass


class ResourceNotFound(NotFound):
    pass


class InstanceNotFound(DomainError):
    """No KMS instance of that id in the caller's account."""


class InstanceStateInvalid(DomainError):
    """The KMS instance is not in a state that allows the request (not connected)."""


class ResourceInUse(DomainError):
    """The resource is named by another and cannot go while it is."""


class KeyStateError(DomainError):
    """The key's state forbids the operation (Alibaba's 409 Rejected.<State>)."""

    state = ""


class KeyDisabled(KeyStateError):
    state = "Disabled"


class KeyPendingDeletion(KeyStateError):
    state = "PendingDeletion"


class KeyPendingImport(KeyStateError):
    state = "PendingImport"


class KeyMaterialUnavailable(KeyStateError):
    """The key's stored material does not authenticate (a row moved or tampered with in the
    database): the key is unusable, as Alibaba's 409 Rejected.Unavailable, and never silently
    becomes another key."""

    state = "Unavailable"


class StateTransitionRefused(DomainError):
    """A lifecycle transition the state machine does not allow (Rejected.StateModifiedFailed)."""


class AlreadyExists(DomainError):
    pass


class UnsupportedOperation(DomainError):
    """The operation does not apply to this kind of key (Rejected.UnsupportedOperation)."""


class LimitExceeded(DomainError):
    pass


class InvalidValue(DomainError):
    """A parameter value the rules refuse; ``parameter`` names it in the answer."""

    def __init__(self, parameter: str, detail: str | None = None) -> None:
        super().__init__(detail)
        self.parameter = parameter


class InvalidCiphertext(InvalidValue):
    """A ciphertext that does not parse or authenticate. Never says which check failed."""

    def __init__(self, parameter: str = "CiphertextBlob") -> None:
        super().__init__(parameter, None)


class PolicyError(InvalidValue):
    """A policy document the policy grammar refuses; ``detail`` says which rule it breaks
    (400 InvalidParameter naming the parameter that carried it)."""


class SecretInDeleteWindow(DomainError):
    """The secret is scheduled for deletion (409 Rejected.ResourceInDeleteWindow)."""


class SecretNotInDeleteWindow(DomainError):
    """RestoreSecret on a secret that is not scheduled for deletion (409 Rejected.ResourceInUse)."""


class StageMismatch(DomainError):
    """UpdateSecretVersionStage names a version that does not carry the stage
    (400 Rejected.InvalidRequest, "param mismatch")."""


class UnsupportedOrigin(DomainError):
    """A bring-your-own-key operation on a key whose Origin is not EXTERNAL (Unsupported.Origin)."""


class InvalidImportToken(DomainError):
    """An ImportToken this deployment did not issue for this key (or issued and then burnt)."""


class ExpiredImportToken(DomainError):
    """An ImportToken past its 24 hours."""


class InvalidKeyMaterial(DomainError):
    """Imported material that does not unwrap, has the wrong length for the key spec, or differs
    from the material the key had before. Never says which."""


class DryRunSucceeded(DomainError):
    """DryRun=true and every check passed: Alibaba answers this as an error (nothing was done)."""


class NoPermission(DomainError):
    """The caller's policies do not allow the request (403 Forbidden.NoPermission); ``detail``
    is the ``AccessDeniedDetail`` the answer carries."""

    def __init__(self, access_denied: dict[str, str]) -> None:
        super().__init__(None)
        self.access_denied = access_denied


class ServiceUnavailable(DomainError):
    """Not the caller's fault: the node cannot serve the call now (503 ServiceUnavailableTemporary),
    for example because its audit trail cannot be written."""
