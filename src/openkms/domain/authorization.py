"""The decision: may this principal do every (action, resource) pair this request needs?

For each pair, in this order (the access-control reference §1.5):

1. **Root.** The account itself may do anything to its own resources, whatever their policies
   say (so no key or secret can be locked away from its owner); it may not assume a role. Towards
   another account's resource it counts as allowed by its own side, and the resource's policy
   decides.
2. **Session policy.** A session created with a policy is held to it: anything it does not allow
   is denied (``SessionPolicy``).
3. **Decision A**, the identity policies (the user's, or the role's for a session), and
   **decision B**, the resource's policy (key or secret policy; a role's trust policy for
   ``sts:AssumeRole``; none for containers, ``*`` and resources that do not exist). An explicit
   Deny in either wins (A's first).
4. **Combining.** Within one account, A *or* B must allow. Across accounts, A *and* B must allow,
   and only the use actions of :data:`CROSS_ACCOUNT_ACTIONS` may be allowed at all.
   ``sts:AssumeRole`` always needs both: the caller's identity policy and the role's trust policy.

A request is allowed only when every pair is; the first pair refused is the answer, with what an
``AccessDeniedDetail`` reports: the action, ``NoPermissionType`` and ``PolicyType`` (and, for the
sealed diagnostic only, the resource and the Sid of the statement that denied).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from openkms.domain.access import Check, PrincipalKind, RequestContext
from openkms.domain.arn import account_of
from openkms.domain.policy import Outcome, Policy, denying_statement, evaluate

__all__ = [
    "ALLOWED",
    "ASSUME_ROLE",
    "CROSS_ACCOUNT_ACTIONS",
    "Decision",
    "NoPermissionType",
    "PolicyType",
    "decide",
]

ASSUME_ROLE = "sts:AssumeRole"
_ASSUME_ROLE = ASSUME_ROLE.lower()

# What a principal of another account may be allowed on a key or secret: use, never management.
CROSS_ACCOUNT_ACTIONS = frozenset(
    a.lower()
    for a in (
        "kms:Encrypt", "kms:Decrypt", "kms:GenerateDataKey", "kms:GenerateDataKeyWithoutPlaintext",
        "kms:GenerateAndExportDataKey", "kms:ExportDataKey", "kms:ReEncryptFrom", "kms:ReEncryptTo",
        "kms:AsymmetricEncrypt", "kms:AsymmetricDecrypt", "kms:AsymmetricSign", "kms:AsymmetricVerify",
        "kms:GetPublicKey", "kms:GenerateMac", "kms:VerifyMac", "kms:DescribeKey",
        "kms:DescribeKeyVersion", "kms:ListKeyVersions",
        "kms:GetSecretValue", "kms:DescribeSecret", "kms:ListSecretVersionIds",
    )
)  # fmt: skip


class NoPermissionType(StrEnum):
    IMPLICIT_DENY = "ImplicitDeny"
    EXPLICIT_DENY = "ExplicitDeny"


class PolicyType(StrEnum):
    """The policy layer that refused, as Alibaba names it. openkms has no control policies and no
    resource groups, so it reports only the last four."""

    CONTROL = "ControlPolicy"
    RESOURCE_GROUP_LEVEL_IDENTITY = "ResourceGroupLevelIdentityBasedPolicy"
    ACCOUNT_LEVEL_IDENTITY = "AccountLevelIdentityBasedPolicy"
    SESSION = "SessionPolicy"
    RESOURCE_BASED = "ResourceBasedPolicy"
    ASSUME_ROLE = "AssumeRolePolicy"


@dataclass(frozen=True, slots=True)
class Decision:
    """``allowed``, or why not: the pair refused (``action``, ``resource``), the kind of refusal
    and the layer that refused; ``statement`` is the Sid of the statement that denied explicitly,
    when it has one. ``resource`` and ``statement`` are for the sealed diagnostic message, never
    for the caller in clear."""

    allowed: bool
    action: str = ""
    resource: str = ""
    no_permission_type: NoPermissionType | None = None
    policy_type: PolicyType | None = None
    statement: str | None = None


ALLOWED = Decision(True)


def decide(ctx: RequestContext, checks: Sequence[Check], identity_policies: Sequence[Policy]) -> Decision:
    """Decide a request. ``identity_policies`` are the caller's (a user's own and its groups', or a
    session's role's); a root caller has none. A request with no checks (DescribeRegions) is
    allowed."""
    for check in checks:
        decision = _decide_one(ctx, check, identity_policies)
        if not decision.allowed:
            return decision
    return ALLOWED


def _decide_one(ctx: RequestContext, check: Check, identity_policies: Sequence[Policy]) -> Decision:
    principal = ctx.principal
    assume = check.action.lower() == _ASSUME_ROLE
    owner = account_of(check.resource) or principal.account_id
    same_account = owner == principal.account_id

    if principal.kind is PrincipalKind.ROOT:
        if assume:
            return _implicit(check, PolicyType.ASSUME_ROLE)  # the account itself assumes no role
        if same_account:
            return ALLOWED
        a = Outcome.ALLOW
    else:
        if ctx.session_policy is not None:
            session = evaluate(ctx.session_policy, ctx, check)
            if session is Outcome.EXPLICIT_DENY:
                return _explicit(check, PolicyType.SESSION, ctx.session_policy, ctx)
            if session is Outcome.NOT_APPLICABLE:
                return _implicit(check, PolicyType.SESSION)
        a = Outcome.NOT_APPLICABLE
        for policy in identity_policies:
            outcome = evaluate(policy, ctx, check)
            if outcome is Outcome.EXPLICIT_DENY:
                return _explicit(check, PolicyType.ACCOUNT_LEVEL_IDENTITY, policy, ctx)
            if outcome is Outcome.ALLOW:
                a = outcome

    resource_type = PolicyType.ASSUME_ROLE if assume else PolicyType.RESOURCE_BASED
    b = Outcome.NOT_APPLICABLE if check.policy is None else evaluate(check.policy, ctx, check)
    if b is Outcome.EXPLICIT_DENY:
        assert check.policy is not None
        return _explicit(check, resource_type, check.policy, ctx)

    if assume or not same_account:
        if not assume and check.action.lower() not in CROSS_ACCOUNT_ACTIONS:
            return _implicit(check, PolicyType.RESOURCE_BASED)
        if a is not Outcome.ALLOW:
            return _implicit(check, PolicyType.ACCOUNT_LEVEL_IDENTITY)
        if b is not Outcome.ALLOW:
            return _implicit(check, resource_type)
        return ALLOWED
    if a is Outcome.ALLOW or b is Outcome.ALLOW:
        return ALLOWED
    return _implicit(check, PolicyType.ACCOUNT_LEVEL_IDENTITY)


def _implicit(check: Check, layer: PolicyType) -> Decision:
    return Decision(False, check.action, check.resource, NoPermissionType.IMPLICIT_DENY, layer)


def _explicit(check: Check, layer: PolicyType, policy: Policy, ctx: RequestContext) -> Decision:
    statement = denying_statement(policy, ctx, check)
    sid = statement.sid if statement is not None else None
    return Decision(False, check.action, check.resource, NoPermissionType.EXPLICIT_DENY, layer, sid)
