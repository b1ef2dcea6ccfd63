"""The Alibaba error catalogue: one class per error Code, carrying its HTTP status.

Every answer that is not a success is a :class:`KMSError`. The renderer
(:mod:`openkms.wire.render`) turns one into ``{RequestId, HostId, Code, Message,
Recommend, HttpStatus}`` in JSON or XML. Anything that is not a ``KMSError`` becomes
:class:`InternalFailure` (500), logged with the request id and never echoed.

Tree (HTTP status in brackets)::

    KMSError
    ├── gateway: MissingParameter [400], InvalidParameter [400], IncompleteSignature [400],
    │   SignatureDoesNotMatch [400], IllegalTimestamp [400], InvalidTimeStampExpired [400],
    │   SignatureNonceUsed [400], InvalidVersion [400], InvalidActionNotFound [404],
    │   InvalidAccessKeyIdNotFound [404], ForbiddenAccessKey [403], UnsupportedHTTPMethod [403],
    │   ForbiddenNoPermission [403], RejectedThrottling [429]
    ├── STS credentials: MissingSecurityToken, InvalidSecurityTokenMalformed,
    │   InvalidSecurityTokenMismatchWithAccessKey, InvalidSecurityTokenExpired [400]
    ├── not found: KeyNotFound, KeyVersionNotFound, AliasNotFound, ResourceNotFound [404]
    ├── KMS instances: DKMSInstanceNotFound, DKMSInstanceStateInvalid [403]
    ├── state: RejectedDisabled, RejectedPendingDeletion, RejectedPendingImport,
    │   RejectedStateModifiedFailed, RejectedResourceExist, RejectedResourceInDeleteWindow,
    │   RejectedResourceInUse [409]
    ├── request: UnsupportedOperation, RejectedUnsupportedOperation, RejectedLimitExceeded,
    │   InvalidKeyMaterial, InvalidImportToken, ExpiredImportToken, UnsupportedOrigin,
    │   UnsupportedAlias, RejectedInvalidRequest, DryRunOperationError [400]
    ├── server: InternalFailure [500], ServiceUnavailableTemporary [503]
    └── RAM (API 2015-05-01): EntityNotExist.* [404], EntityAlreadyExists.*, DeleteConflict.*,
        LimitExceeded.* [409], InvalidParameter.<Name>.<Fault>, MalformedPolicyDocument [400]
        (the table :data:`RAM_ERRORS`, from RAM's error reference)
    └── STS (API 2015-04-01): InvalidParameter.RoleArn, .RoleSessionName, .DurationSeconds,
        .PolicyGrammar, .PolicySize, .ExternalId [400], NoPermission [403],
        EntityNotExist.Role [404] (the table :data:`STS_ERRORS`)

This module must not import anything outside the standard library.
"""

from __future__ import annotations

from typing import ClassVar


class KMSError(Exception):
    """An error answer: an Alibaba Code, its HTTP status and a message safe to show."""

    code: ClassVar[str] = "InternalFailure"
    http_status: ClassVar[int] = 500
    default_message: ClassVar[str] = "Internal Failure."

    # The AccessDeniedDetail of a refusal by the permission system, rendered with the answer.
    access_denied: dict[str, str] | None = None

    def __init__(self, message: str | None = None) -> None:
        self.message = message if message is not None else self.default_message
        super().__init__(self.message)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.code!r}, {self.message!r})"


def _error(code: str, status: int, message: str) -> type[KMSError]:
    return type(
        code.replace(".", ""),
        (KMSError,),
        {"code": code, "http_status": status, "default_message": message, "__module__": __name__},
    )


class MissingParameter(KMSError):
    code = "MissingParameter"
    http_status = 400
    default_message = "The parameter is needed but not provided."

    def __init__(self, name: str) -> None:
        super().__init__(f'The parameter "{name}" is needed but not provided.')
        self.parameter = name


class InvalidParameter(KMSError):
    code = "InvalidParameter"
    http_status = 400
    default_message = "The specified parameter is not valid."

    def __init__(self, name: str | None = None, reason: str | None = None) -> None:
        if name is None:
            message = self.default_message
        else:
            message = f'The specified parameter "{name}" is not valid.'
        if reason:
            message = f"{message} {reason}"
        super().__init__(message)
        self.parameter = name


class SignatureDoesNotMatch(KMSError):
    """A wrong signature. The message ends ``server string to sign is:<string>``: the old SDK
    splits it on ``:`` (a ``reason``, said before it, must not contain one)."""

    code = "SignatureDoesNotMatch"
    http_status = 400
    default_message = "Specified signature is not matched with our calculation."

    def __init__(self, string_to_sign: str, reason: str = "") -> None:
        super().__init__(
            "Specified signature is not matched with our calculation. "
            + (reason + " " if reason else "")
            + f"server string to sign is:{string_to_sign}"
        )


IncompleteSignature = _error(
    "IncompleteSignature", 400, "The request signature does not conform to Aliyun standards."
)
IllegalTimestamp = _error(
    "IllegalTimestamp",
    400,
    'The input parameter "Timestamp" that is mandatory for processing this request is not supplied.',
)
InvalidTimeStampExpired = _error(
    "InvalidTimeStamp.Expired", 400, "Specified time stamp or date value is expired."
)
SignatureNonceUsed = _error("SignatureNonceUsed", 400, "Specified signature nonce was used already.")
InvalidVersion = _error("InvalidVersion", 400, "Specified parameter Version is not valid.")
InvalidActionNotFound = _error(
    "InvalidAction.NotFound", 404, "Specified api is not found, please check your url and method."
)
InvalidAccessKeyIdNotFound = _error("InvalidAccessKeyId.NotFound", 404, "Specified access key is not found.")
ForbiddenAccessKey = _error("Forbidden.AccessKey", 403, "This AccessKey is not enabled.")
UnsupportedHTTPMethod = _error("UnsupportedHTTPMethod", 403, "This http method is not supported.")
ForbiddenNoPermission = _error(
    "Forbidden.NoPermission", 403, "This operation is forbidden by permission system."
)
RejectedThrottling = _error("Rejected.Throttling", 429, "QPS Limit Exceeded")
# The gateway's answers for STS credentials, shared by every product (400 for all four, as the
# FaaS tables give them; the SDKs raise the same exception for 400 and 403).
MissingSecurityToken = _error("MissingSecurityToken", 400, "SecurityToken is mandatory for this action.")
InvalidSecurityTokenMalformed = _error(
    "InvalidSecurityToken.Malformed", 400, "Specified SecurityToken is malformed."
)
InvalidSecurityTokenMismatchWithAccessKey = _error(
    "InvalidSecurityToken.MismatchWithAccessKey", 400, "Specified SecurityToken mismatch with the AccessKey."
)
InvalidSecurityTokenExpired = _error(
    "InvalidSecurityToken.Expired", 400, "Specified SecurityToken is expired."
)

KeyNotFound = _error("Forbidden.KeyNotFound", 404, "The specified Key is not found.")
KeyVersionNotFound = _error("Forbidden.KeyVersionNotFound", 404, "The specified Key version is not found.")
AliasNotFound = _error("Forbidden.AliasNotFound", 404, "The specified Alias is not found.")
ResourceNotFound = _error("Forbidden.ResourceNotFound", 404, "The resource is not found.")

RejectedDisabled = _error(
    "Rejected.Disabled", 409, "The request was rejected because the key state is Disabled."
)
RejectedPendingDeletion = _error(
    "Rejected.PendingDeletion",
    409,
    "The request was rejected because the key state is PendingDeletion.",
)
RejectedPendingImport = _error(
    "Rejected.PendingImport",
    409,
    "The request was rejected because the key state is PendingImport.",
)
RejectedUnavailable = _error(
    "Rejected.Unavailable", 409, "The request was rejected because the key state is Unavailable."
)
RejectedStateModifiedFailed = _error("Rejected.StateModifiedFailed", 409, "Keystate modified failed.")
RejectedResourceExist = _error("Rejected.ResourceExist", 409, "The resource already exists.")
RejectedResourceInDeleteWindow = _error(
    "Rejected.ResourceInDeleteWindow", 409, "The secret is planned to be deleted."
)
RejectedResourceInUse = _error("Rejected.ResourceInUse", 409, "The resource is in use.")
DKMSInstanceNotFound = _error(
    "Forbidden.DKMSInstanceNotFound", 403, "The specified DKMS Instance is not found."
)
DKMSInstanceStateInvalid = _error(
    "Forbidden.DKMSInstanceStateInvalid", 403, "The DKMS instance state is invalid."
)

UnsupportedOperation = _error("UnsupportedOperation", 400, "This action is not supported.")
RejectedUnsupportedOperation = _error("Rejected.UnsupportedOperation", 400, "Unsupported operation.")
RejectedLimitExceeded = _error(
    "Rejected.LimitExceeded",
    400,
    "The request was rejected because user create resource limit was exceeded.",
)
InvalidKeyMaterial = _error("InvalidKeyMaterial", 400, "key material is invalid")
InvalidImportToken = _error("InvalidImportToken", 400, "import token is invalid")
ExpiredImportToken = _error("ExpiredImportToken", 400, "import token is expired")
UnsupportedOrigin = _error("Unsupported.Origin", 400, "This key origin is not valid for this api")
UnsupportedAlias = _error("Unsupported.Alias", 400, "Alias is not valid for this api.")
RejectedInvalidRequest = _error("Rejected.InvalidRequest", 400, "param mismatch")
DryRunOperationError = _error(
    "DryRunOperationError", 400, "Request would have succeeded, but DryRun flag is set."
)

InternalFailure = _error("InternalFailure", 500, "Internal Failure.")
ServiceUnavailableTemporary = _error("ServiceUnavailableTemporary", 503, "Service Unavailable Temporary.")


# RAM's codes: (code, HTTP status, message), as RAM's error reference lists them.
_RAM_TABLE: tuple[tuple[str, int, str], ...] = (
    ("EntityNotExist.User", 404, "The user does not exist."),
    ("EntityNotExist.User.AccessKey", 404, "The user access key does not exist."),
    ("EntityNotExist.User.Group", 404, "The user has not joined the group."),
    ("EntityNotExist.User.Policy", 404, "The indicate policy of the user does not exist."),
    ("EntityNotExist.Group", 404, "The group does not exist."),
    ("EntityNotExist.Group.Policy", 404, "The indicate policy attached to the group does not exist."),
    ("EntityNotExist.Role", 404, "The role does not exist."),
    ("EntityNotExist.Role.Policy", 404, "The indicate policy attached to the role does not exist."),
    ("EntityNotExist.Policy", 404, "The policy does not exist."),
    ("EntityNotExist.Policy.Version", 404, "The policy version does not exist."),
    ("EntityAlreadyExists.User", 409, "The user does already EXIST."),
    ("EntityAlreadyExists.User.Group", 409, "The user has already joined the group."),
    ("EntityAlreadyExists.User.Policy", 409, "The user has already been attached this policy."),
    ("EntityAlreadyExists.Group", 409, "The group does already EXIST."),
    ("EntityAlreadyExists.Group.Policy", 409, "The group has already been attached this policy."),
    ("EntityAlreadyExists.Role", 409, "The role does already EXIST."),
    ("EntityAlreadyExists.Role.Policy", 409, "The role has already been attached this policy."),
    ("EntityAlreadyExists.Policy", 409, "The policy does already EXIST."),
    ("DeleteConflict.User.AccessKey", 409, "The user CAN NOT has any access key while deleting the user."),
    ("DeleteConflict.User.Group", 409, "The user CAN NOT be in any group while deleting the user."),
    ("DeleteConflict.User.Policy", 409, "The user CAN NOT has any attached policy while deleting the user."),
    ("DeleteConflict.Group.User", 409, "The group CAN NOT has any user member while deleting the group."),
    (
        "DeleteConflict.Group.Policy",
        409,
        "The entity CAN NOT has any attached policy while deleting the group.",
    ),
    ("DeleteConflict.Role.Policy", 409, "The role CAN NOT has any attached policy while deleting the role."),
    (
        "DeleteConflict.Policy.User",
        409,
        "The policy CAN NOT been attached to any user while deleting the policy.",
    ),
    (
        "DeleteConflict.Policy.Group",
        409,
        "The policy CAN NOT been attached to any group while deleting the policy.",
    ),
    (
        "DeleteConflict.Policy.Role",
        409,
        "The policy CAN NOT been attached to any role while deleting the policy.",
    ),
    ("DeleteConflict.Policy.Version", 409, "The policy CAN NOT has any version except the default version."),
    (
        "DeleteConflict.Policy.Version.Default",
        409,
        "The default policy version CAN NOT been deleted directly.",
    ),
    ("LimitExceeded.User", 409, "The count of users beyond the current limits."),
    (
        "LimitExceeded.User.AccessKey",
        409,
        "The access key count of the user access keys beyond the current limits.",
    ),
    (
        "LimitExceeded.User.Group",
        409,
        "The count of groups the target user joined beyond the current limits.",
    ),
    (
        "LimitExceeded.User.Policy",
        409,
        "The policy count of the user attached policies beyond the current limits.",
    ),
    ("LimitExceeded.Group", 409, "The count of groups beyond the current limits."),
    ("LimitExceeded.Group.Policy", 409, "The policy count of the group beyond the current limits."),
    ("LimitExceeded.Role", 409, "The count of roles beyond the current limits."),
    (
        "LimitExceeded.Role.Policy",
        409,
        "The count of policies attached to the role beyond the current limits.",
    ),
    ("LimitExceeded.Policy", 409, "The count of policy beyond the current limits."),
    ("LimitExceeded.Policy.Version", 409, "The count of policy version beyond the current limits."),
    ("InvalidParameter.PolicyType", 400, 'The parameter - "PolicyType" is incorrect.'),
    ("MalformedPolicyDocument", 400, "The policy document is malformed."),
)
RAM_ERRORS: dict[str, type[KMSError]] = {
    code: _error(code, status, text) for code, status, text in _RAM_TABLE
}


def ram_error(code: str, message: str | None = None) -> KMSError:
    """The RAM error answer for ``code``. ``InvalidParameter.<Name>.<Fault>`` codes (one per
    parameter and fault, as RAM names them) are 400 and made on first use; any other code must
    be in :data:`RAM_ERRORS`."""
    cls = RAM_ERRORS.get(code)
    if cls is None:
        if not code.startswith("InvalidParameter."):
            raise KeyError(code)
        cls = RAM_ERRORS.setdefault(code, _error(code, 400, "The specified parameter is not valid."))
    return cls(message)


# STS's codes for AssumeRole: (code, HTTP status, message), as STS's API reference lists them.
_STS_TABLE: tuple[tuple[str, int, str], ...] = (
    ("InvalidParameter.RoleArn", 400, "The parameter RoleArn is wrongly formed."),
    ("InvalidParameter.RoleSessionName", 400, "The parameter RoleSessionName is wrongly formed."),
    ("InvalidParameter.DurationSeconds", 400, "The Min/Max value of DurationSeconds is 15min/1hr."),
    ("InvalidParameter.PolicyGrammar", 400, "The parameter Policy has not passed grammar check."),
    ("InvalidParameter.PolicySize", 400, "The size of Policy must be smaller than 2048 characters."),
    ("InvalidParameter.ExternalId", 400, "The parameter ExternalId is wrongly formed."),
    ("NoPermission", 403, "You are not authorized to do this action. You should be authorized by RAM."),
    ("EntityNotExist.Role", 404, "The specified Role not exists."),
)
STS_ERRORS: dict[str, type[KMSError]] = {
    code: _error(code, status, text) for code, status, text in _STS_TABLE
}


def sts_error(code: str, message: str | None = None) -> KMSError:
    """The STS error answer for ``code``, which must be in :data:`STS_ERRORS`."""
    return STS_ERRORS[code](message)
