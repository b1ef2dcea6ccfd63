"""The seam between domain errors and the wire catalogue: one dict, looked up along the MRO."""

from __future__ import annotations

from openkms.domain import errors as d
from openkms.domain import ram, sts
from openkms.wire import errors as w

DOMAIN_TO_WIRE: dict[type[d.DomainError], type[w.KMSError]] = {
    d.KeyNotFound: w.KeyNotFound,
    d.KeyVersionNotFound: w.KeyVersionNotFound,
    d.AliasNotFound: w.AliasNotFound,
    d.ResourceNotFound: w.ResourceNotFound,
    d.NotFound: w.ResourceNotFound,
    d.KeyDisabled: w.RejectedDisabled,
    d.KeyPendingDeletion: w.RejectedPendingDeletion,
    d.KeyPendingImport: w.RejectedPendingImport,
    d.KeyMaterialUnavailable: w.RejectedUnavailable,
    d.StateTransitionRefused: w.RejectedStateModifiedFailed,
    d.AlreadyExists: w.RejectedResourceExist,
    d.UnsupportedOperation: w.RejectedUnsupportedOperation,
    d.LimitExceeded: w.RejectedLimitExceeded,
    d.DryRunSucceeded: w.DryRunOperationError,
    d.SecretInDeleteWindow: w.RejectedResourceInDeleteWindow,
    d.SecretNotInDeleteWindow: w.RejectedResourceInUse,
    d.ResourceInUse: w.RejectedResourceInUse,
    d.InstanceNotFound: w.DKMSInstanceNotFound,
    d.InstanceStateInvalid: w.DKMSInstanceStateInvalid,
    d.StageMismatch: w.RejectedInvalidRequest,
    d.UnsupportedOrigin: w.UnsupportedOrigin,
    d.InvalidImportToken: w.InvalidImportToken,
    d.ExpiredImportToken: w.ExpiredImportToken,
    d.InvalidKeyMaterial: w.InvalidKeyMaterial,
    d.ServiceUnavailable: w.ServiceUnavailableTemporary,
    d.Sealed: w.ServiceUnavailableTemporary,
}


def to_wire(exc: d.DomainError) -> w.KMSError:
    """Translate a domain error into the catalogue entry a caller sees."""
    if isinstance(exc, d.NoPermission):
        denied = w.ForbiddenNoPermission()
        denied.access_denied = exc.access_denied
        return denied
    if isinstance(exc, ram.RamError):
        return w.ram_error(exc.code, exc.detail)
    if isinstance(exc, sts.StsError):
        return w.sts_error(exc.code, exc.detail)
    if isinstance(exc, ram.MalformedPolicyDocument):
        return w.ram_error("MalformedPolicyDocument", exc.detail)
    if isinstance(exc, d.InvalidValue):
        return w.InvalidParameter(exc.parameter, exc.detail)
    for cls in type(exc).__mro__:
        target = DOMAIN_TO_WIRE.get(cls)
        if target is not None:
            return target(exc.detail) if exc.detail else target()
    return w.InvalidParameter(reason=exc.detail)
