"""STS actions (API 2015-04-01): AssumeRole and GetCallerIdentity.

Answers carry the members the official ``alibabacloud-sts20150401`` SDK's models read and that
``alibabacloud-credentials`` parses (``Credentials.Expiration`` exactly ``%Y-%m-%dT%H:%M:%SZ``).
Bad values answer STS's own codes: ``InvalidParameter.<Name>`` for every fault of a parameter,
``InvalidParameter.PolicySize`` and ``.PolicyGrammar`` for the session policy.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from openkms.api.spec import ActionSpec, Handler, Param, Unsupported
from openkms.domain import ram
from openkms.domain import sts as rules
from openkms.domain.clock import iso
from openkms.service.context import CallContext
from openkms.wire import errors

SERVICE = "sts"


@dataclass(frozen=True)
class StsParam(Param):
    """An STS parameter: a value of the wrong form or outside its bounds is 400
    ``InvalidParameter.<Name>``, a Policy too long ``InvalidParameter.PolicySize``; a missing
    required one is ``MissingParameter``."""

    def convert(self, raw: str | None) -> Any:
        try:
            return super().convert(raw)
        except errors.InvalidParameter:
            if self.name == "Policy":
                raise errors.sts_error("InvalidParameter.PolicySize") from None
            if self.name == "DurationSeconds":
                message = rules.duration_message(self.max or rules.DEFAULT_DURATION)
                raise errors.sts_error("InvalidParameter.DurationSeconds", message) from None
            raise errors.sts_error(f"InvalidParameter.{self.name}") from None


def _spec(
    name: str,
    handler: Handler,
    params: tuple[Param, ...] = (),
    doc: str = "",
    unsupported: tuple[Unsupported, ...] = (),
) -> ActionSpec:
    return ActionSpec(name, handler, params, doc=doc, service=SERVICE, unsupported=unsupported)


def assume_role(
    ctx: CallContext,
    *,
    role_arn: str,
    role_session_name: str,
    duration_seconds: int | None,
    policy: str | None,
    external_id: str | None,
) -> dict[str, Any]:
    caller = ctx.caller
    issued = ctx.services.sts.assume_role(
        caller.owner,
        role_arn,
        role_session_name,
        duration_seconds,
        policy,
        external_id,
        source_ip=caller.source_ip,
        secure_transport=caller.secure_transport,
    )
    claims = issued.claims
    return {
        "AssumedRoleUser": {"Arn": issued.arn, "AssumedRoleId": issued.assumed_role_id},
        "Credentials": {
            "AccessKeyId": claims.access_key_id,
            "AccessKeySecret": claims.secret,
            "SecurityToken": issued.token,
            "Expiration": iso(claims.expires),
        },
    }


def get_caller_identity(ctx: CallContext) -> dict[str, Any]:
    who = ctx.services.sts.caller_identity(ctx.caller.owner)
    out: dict[str, Any] = {
        "IdentityType": who.identity_type,
        "AccountId": who.account_id,
        "Arn": who.arn,
        "PrincipalId": who.principal_id,
    }
    if who.user_id is not None:
        out["UserId"] = who.user_id
    if who.role_id is not None:
        out["RoleId"] = who.role_id
    return out


ACTIONS = [
    _spec(
        "AssumeRole",
        assume_role,
        (
            StsParam("RoleArn", required=True, max=256, doc="acs:ram::<account>:role/<name>."),
            StsParam(
                "RoleSessionName",
                required=True,
                min=2,
                max=64,
                pattern=r"[A-Za-z0-9.@_-]+",
                doc="Names the session in its ARN (acs:ram::<account>:role/<role>/<session>).",
            ),
            StsParam(
                "DurationSeconds",
                kind=int,
                min=rules.MIN_DURATION,
                max=ram.MAX_SESSION_DURATION,
                doc="Seconds; default 3600, at most the role's MaxSessionDuration.",
            ),
            StsParam(
                "Policy",
                max=rules.MAX_POLICY_CHARS,
                doc="A session policy (identity-policy grammar): the session may do only what both "
                "it and the role's policies allow.",
            ),
            StsParam(
                "ExternalId",
                min=2,
                max=1224,
                pattern=r"[A-Za-z0-9_+=,.@:/-]+",
                doc="Checked for form and otherwise ignored: no trust policy condition reads it.",
            ),
        ),
        "Temporary credentials of a role: an `STS.` AccessKeyId, its secret and a SecurityToken, "
        "valid until Expiration. The caller (a RAM user or a role's session, never the account's "
        "root) needs `sts:AssumeRole` on the role's ARN and must be named by the role's trust "
        "policy (403 NoPermission otherwise); a role that does not exist is 404 EntityNotExist.Role.",
        (
            Unsupported(
                "SourceIdentity",
                "SourceIdentity is not supported.",
                "Refused rather than dropped: a session would not carry the identity asked for.",
            ),
        ),
    ),
    _spec(
        "GetCallerIdentity",
        get_caller_identity,
        (),
        "Who signed the request: IdentityType Account, RAMUser or AssumedRoleUser, its account, "
        "ARN and principal id. Any authenticated caller may ask: Alibaba checks no permission for it.",
    ),
]
