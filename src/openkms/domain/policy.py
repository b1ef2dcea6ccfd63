"""The policy language: a document's grammar, its compiled form, and what one policy says about
one (action, resource) pair of a request.

Three kinds of document share the language (the access-control reference, §1-§2)::

    {"Version": "1", "Statement": [ {
        "Sid":       optional, at most 128 of A-Z a-z 0-9 space _ / + = . @ -
        "Effect":    "Allow" | "Deny"
        "Action":    a string or a non-empty list     (or "NotAction", in identity policies only)
        "Resource":  a string or a non-empty list
        "Principal": {"RAM": [...]}                   (key, secret and trust policies only)
        "Condition": {"<Operator>": {"<key>": value or [values]}}   (optional)
    }, ... ]}

- **identity** policies (attached to users and roles, and STS session policies): no Principal;
  actions ``<service>:<name>`` or ``*``; resources ``*`` or ARNs ``acs:<service>:<region>:
  <account>:<relative id>``.
- **key** and **secret** policies: Principal ``{"RAM": [...]}`` required, actions ``kms:…``,
  Resource only ``*`` (the key or secret the policy belongs to). Actions outside the set that
  takes effect in such a policy are kept (the document is returned as written) but grant and deny
  nothing.
- **trust** policies (who may assume a role): Principal ``RAM`` and/or ``Service``, Action
  ``sts:AssumeRole``, Resource absent or ``*``.

Everything else is refused with :class:`~openkms.domain.errors.PolicyError` (400
InvalidParameter naming the parameter): text that is not JSON, a name given twice in one object,
Version other than ``"1"``, a missing Effect, Action or Resource, both Action and NotAction,
``NotResource``, unknown elements, operators and condition keys, values of the wrong type. A
policy never means less than its author believes.

Matching: ``*`` and ``?`` wildcards (:mod:`openkms.domain.wildcard`); action names without regard
to case, resource ARNs with it. Principals (key and secret policies, §2.3 of the reference):
``acs:ram::<uid>:*`` (or ``:root``) names the account ``<uid>``: its root, and its users and roles
only when ``<uid>`` is not the account that owns the resource (delegation to another account,
which must then allow the call itself); ``…:user/<n>`` names that user, ``…:role/<n>`` any
session of that role. In a trust policy ``acs:ram::<uid>:root`` names every user and role of
``<uid>``, whose own policies must also allow ``sts:AssumeRole``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from enum import StrEnum
from typing import Any

from openkms.domain.access import Check, Principal, PrincipalKind, RequestContext
from openkms.domain.arn import account_of
from openkms.domain.conditions import OPERATORS, Clause, ConditionError, compile_clause
from openkms.domain.errors import PolicyError
from openkms.domain.wildcard import Glob, has_wildcard

__all__ = [
    "KEY_POLICY_ACTIONS",
    "MAX_POLICY_BYTES",
    "SECRET_POLICY_ACTIONS",
    "Outcome",
    "Policy",
    "PolicyKind",
    "Statement",
    "evaluate",
    "parse_identity_policy",
    "parse_policy",
    "parse_resource_policy",
    "parse_trust_policy",
]

MAX_POLICY_BYTES = 32768


class PolicyKind(StrEnum):
    IDENTITY = "identity"
    KEY = "key"
    SECRET = "secret"  # noqa: S105 - a policy kind, not a credential
    TRUST = "trust"


class Outcome(StrEnum):
    """What one policy says about one (action, resource) pair."""

    ALLOW = "Allow"
    EXPLICIT_DENY = "ExplicitDeny"
    NOT_APPLICABLE = "NotApplicable"


# The actions that take effect in a key policy: Alibaba's administrator and user sets, plus the
# use actions its cross-account guidance names (which only a key policy can grant to another
# account, so they must be able to take effect in one). TagResources and UntagResources are the
# new-style names of TagResource and UntagResource, in both lists.
KEY_POLICY_ACTIONS = (
    "kms:List*", "kms:Describe*", "kms:Create*", "kms:Enable*", "kms:Disable*", "kms:Get*",
    "kms:Set*", "kms:Update*", "kms:Delete*", "kms:Cancel*", "kms:TagResource",
    "kms:UntagResource", "kms:ImportKeyMaterial", "kms:ScheduleKeyDeletion",
    "kms:Encrypt", "kms:Decrypt", "kms:GenerateDataKey", "kms:GenerateAndExportDataKey",
    "kms:AsymmetricEncrypt", "kms:AsymmetricDecrypt", "kms:DescribeKey", "kms:DescribeKeyVersion",
    "kms:ListKeyVersions", "kms:ListAliasesByKeyId",
    "kms:GenerateDataKeyWithoutPlaintext", "kms:ExportDataKey", "kms:ReEncryptFrom",
    "kms:ReEncryptTo", "kms:AsymmetricSign", "kms:AsymmetricVerify", "kms:GetPublicKey",
    "kms:GenerateMac", "kms:VerifyMac", "kms:TagResources", "kms:UntagResources",
)  # fmt: skip
SECRET_POLICY_ACTIONS = (
    "kms:List*", "kms:Describe*", "kms:PutSecretValue", "kms:Update*", "kms:DeleteSecret",
    "kms:RestoreSecret", "kms:RotateSecret", "kms:TagResource", "kms:UntagResource",
    "kms:GetSecretValue", "kms:TagResources", "kms:UntagResources",
)  # fmt: skip
_EFFECTIVE = {
    PolicyKind.KEY: tuple(Glob(a, fold=True) for a in KEY_POLICY_ACTIONS),
    PolicyKind.SECRET: tuple(Glob(a, fold=True) for a in SECRET_POLICY_ACTIONS),
}

_ELEMENTS = {
    PolicyKind.IDENTITY: frozenset({"Sid", "Effect", "Action", "NotAction", "Resource", "Condition"}),
    PolicyKind.KEY: frozenset({"Sid", "Effect", "Principal", "Action", "Resource", "Condition"}),
    PolicyKind.SECRET: frozenset({"Sid", "Effect", "Principal", "Action", "Resource", "Condition"}),
    PolicyKind.TRUST: frozenset({"Sid", "Effect", "Principal", "Action", "Resource", "Condition"}),
}
_SID = re.compile(r"[A-Za-z0-9_/+=.@\- ]{0,128}")
_RAM_PRINCIPAL = re.compile(r"acs:ram::([0-9]{1,32}):(\*|root|user/[^\s*?]{1,128}|role/[^\s*?]{1,128})")
_SERVICE_PRINCIPAL = re.compile(r"[a-z0-9][a-z0-9.\-]{0,127}")
_KMS_ACTION = re.compile(r"kms:[A-Za-z*?]{1,128}", re.IGNORECASE)
_ANY_ACTION = re.compile(r"\*|[A-Za-z0-9\-*?]{1,64}:[A-Za-z0-9*?]{1,128}")
_ARN = re.compile(r"acs:[A-Za-z0-9\-*?]+:[^:\s]*:[^:\s]*:\S+")
_ASSUME_ROLE = "sts:assumerole"
# A policy remembers which of its statements each action can reach; past this many distinct
# actions it stops remembering new ones (callers only ask about the few hundred RAM actions).
_INDEX_LIMIT = 1024


class _Resources:
    __slots__ = ("_exact", "_globs")

    def __init__(self, patterns: Iterable[str]) -> None:
        patterns = list(patterns)
        self._exact = frozenset(p for p in patterns if not has_wildcard(p))
        self._globs = tuple(Glob(p) for p in patterns if has_wildcard(p))

    def match(self, resource: str) -> bool:
        if resource in self._exact:
            return True
        for glob in self._globs:  # noqa: SIM110 - a loop: any() over a generator costs more per request
            if glob.match(resource):
                return True
        return False


class _Principals:
    """The principals a statement names. ``members_of_owner``: an account entry also names the
    users and roles of the account that owns the resource (trust policies); otherwise only of
    other accounts (key and secret policies)."""

    __slots__ = ("_accounts", "_arns", "members_of_owner", "services")

    def __init__(self, ram: Iterable[str], services: Iterable[str], members_of_owner: bool) -> None:
        accounts, arns = set(), set()
        for entry in ram:
            found = _RAM_PRINCIPAL.fullmatch(entry)
            assert found is not None  # checked by the grammar
            if found.group(2) in ("*", "root"):
                accounts.add(found.group(1))
            else:
                arns.add(entry)
        self._accounts = frozenset(accounts)
        self._arns = frozenset(arns)
        self.services = frozenset(services)  # no service calls openkms: these name nobody here
        self.members_of_owner = members_of_owner

    def match(self, principal: Principal, resource: str) -> bool:
        if principal.arn in self._arns or (
            principal.role_arn is not None and principal.role_arn in self._arns
        ):
            return True
        if principal.account_id not in self._accounts:
            return False
        if principal.kind is PrincipalKind.ROOT or self.members_of_owner:
            return True
        owner = account_of(resource)
        return owner is not None and owner != principal.account_id


class _Frozen:
    """Attributes are set once, in ``__init__``; a compiled policy is shared by every request."""

    __slots__ = ()

    def __setattr__(self, name: str, value: Any) -> None:
        if hasattr(self, name):
            raise AttributeError(f"{type(self).__name__} is read-only")
        object.__setattr__(self, name, value)


class Statement(_Frozen):
    """One compiled statement."""

    __slots__ = ("_actions", "conditions", "deny", "not_action", "principals", "resources", "sid")

    def __init__(
        self,
        sid: str | None,
        deny: bool,
        actions: Sequence[str],
        not_action: bool,
        resources: _Resources | None,
        principals: _Principals | None,
        conditions: tuple[Clause, ...],
    ) -> None:
        self.sid = sid
        self.deny = deny
        self._actions = tuple(Glob(a, fold=True) for a in actions)
        self.not_action = not_action
        self.resources = resources  # None: any resource ("*", or the policy's own resource)
        self.principals = principals  # None: identity policies, which name no principal
        self.conditions = conditions

    def names_action(self, action: str) -> bool:
        named = any(g.match(action) for g in self._actions)
        return named is not self.not_action

    def applies(self, ctx: RequestContext, check: Check) -> bool:
        """Everything but the action matches (the caller has chosen statements by action)."""
        if self.resources is not None and not self.resources.match(check.resource):
            return False
        if self.principals is not None and not self.principals.match(ctx.principal, check.resource):
            return False
        for clause in self.conditions:  # noqa: SIM110 - a loop: all() over a generator costs more per request
            if not clause.holds(ctx, check):
                return False
        return True


class Policy(_Frozen):
    """A parsed, compiled, immutable policy; ``text`` is the document as given. It remembers, per
    action, which statements can apply (its only state, filled as actions are asked about)."""

    __slots__ = ("_index", "kind", "statements", "text")

    def __init__(self, kind: PolicyKind, text: str, statements: tuple[Statement, ...]) -> None:
        self.kind = kind
        self.text = text
        self.statements = statements
        self._index: dict[str, tuple[tuple[Statement, ...], tuple[Statement, ...]]] = {}

    def candidates(self, action: str) -> tuple[tuple[Statement, ...], tuple[Statement, ...]]:
        """(Deny statements, Allow statements) whose action part names ``action``."""
        found = self._index.get(action)
        if found is None:
            found = self._select(action)
            if len(self._index) < _INDEX_LIMIT:
                self._index[action] = found
        return found

    def _select(self, action: str) -> tuple[tuple[Statement, ...], tuple[Statement, ...]]:
        effective = _EFFECTIVE.get(self.kind)
        if effective is not None and not any(g.match(action) for g in effective):
            return (), ()
        named = [s for s in self.statements if s.names_action(action)]
        return tuple(s for s in named if s.deny), tuple(s for s in named if not s.deny)

    def __repr__(self) -> str:
        return f"Policy({self.kind}, {len(self.statements)} statements)"


def evaluate(policy: Policy, ctx: RequestContext, check: Check) -> Outcome:
    """What ``policy`` says about ``check`` in ``ctx``: an Explicit Deny if any matching statement
    denies, else Allow if any allows, else Not Applicable."""
    denies, allows = policy.candidates(check.action)
    for statement in denies:
        if statement.applies(ctx, check):
            return Outcome.EXPLICIT_DENY
    for statement in allows:
        if statement.applies(ctx, check):
            return Outcome.ALLOW
    return Outcome.NOT_APPLICABLE


def denying_statement(policy: Policy, ctx: RequestContext, check: Check) -> Statement | None:
    """The first statement of ``policy`` that explicitly denies ``check``, if any."""
    for statement in policy.candidates(check.action)[0]:
        if statement.applies(ctx, check):
            return statement
    return None


# Parsing --------------------------------------------------------------------------------------


def parse_identity_policy(
    text: str, parameter: str = "PolicyDocument", max_bytes: int = MAX_POLICY_BYTES
) -> Policy:
    """A policy attached to a user or role, or an STS session policy."""
    return parse_policy(text, PolicyKind.IDENTITY, parameter, max_bytes)


def parse_resource_policy(text: str, kind: PolicyKind = PolicyKind.KEY, parameter: str = "Policy") -> Policy:
    """A key policy (``kind=KEY``) or a secret policy (``kind=SECRET``)."""
    assert kind in (PolicyKind.KEY, PolicyKind.SECRET)
    return parse_policy(text, kind, parameter)


def parse_trust_policy(text: str, parameter: str = "AssumeRolePolicyDocument") -> Policy:
    """A role's trust policy: who may assume the role."""
    return parse_policy(text, PolicyKind.TRUST, parameter)


def parse_policy(text: str, kind: PolicyKind, parameter: str, max_bytes: int = MAX_POLICY_BYTES) -> Policy:
    """Parse and compile a policy document.

    Raises:
        PolicyError: naming ``parameter``, with the first rule the document breaks.
    """
    if len(text.encode("utf-8", "surrogatepass")) > max_bytes:
        raise PolicyError(parameter, f"A policy is at most {max_bytes} bytes.")
    try:
        document = json.loads(text, object_pairs_hook=_unique_names)
    except _DuplicateName as dup:
        raise PolicyError(parameter, f"The name {dup.name} is given twice in one object.") from None
    except (ValueError, RecursionError):
        raise PolicyError(parameter, "It must be a JSON document.") from None
    if not isinstance(document, dict):
        raise PolicyError(parameter, "It must be a JSON object.")
    unknown = set(document) - {"Version", "Statement"}
    if unknown:
        raise PolicyError(parameter, f"Unknown element {sorted(unknown)[0]}.")
    if document.get("Version") != "1":
        raise PolicyError(parameter, 'Version must be "1".')
    statements = document.get("Statement")
    if not isinstance(statements, list) or not statements:
        raise PolicyError(parameter, "Statement must be a non-empty list.")
    compiled = []
    for number, statement in enumerate(statements, 1):
        try:
            compiled.append(_statement(statement, kind))
        except _Refused as refused:
            raise PolicyError(parameter, f"Statement {number}: {refused}") from None
    return Policy(kind, text, tuple(compiled))


class _DuplicateName(ValueError):
    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name


def _unique_names(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for name, value in pairs:
        if name in result:
            raise _DuplicateName(name)
        result[name] = value
    return result


class _Refused(ValueError):
    """One statement breaks the grammar; the message says how."""


def _strings(value: Any, element: str) -> list[str]:
    """A string or a non-empty list of strings, as a list."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and value and all(isinstance(v, str) for v in value):
        return value
    raise _Refused(f"{element} is a string or a non-empty list of strings.")


def _statement(statement: Any, kind: PolicyKind) -> Statement:
    if not isinstance(statement, dict):
        raise _Refused("a statement is a JSON object.")
    if "NotResource" in statement:
        raise _Refused("NotResource is not supported; list the resources in Resource.")
    unknown = set(statement) - _ELEMENTS[kind]
    if unknown:
        article = "an" if kind is PolicyKind.IDENTITY else "a"
        raise _Refused(f"element {sorted(unknown)[0]} is not allowed in {article} {kind} policy.")
    sid = statement.get("Sid")
    if "Sid" in statement and (not isinstance(sid, str) or not _SID.fullmatch(sid)):
        raise _Refused("Sid is at most 128 of A-Z a-z 0-9 space _ / + = . @ -.")
    effect = statement.get("Effect")
    if effect not in ("Allow", "Deny"):
        raise _Refused('Effect must be "Allow" or "Deny".')
    actions, not_action = _actions(statement, kind)
    return Statement(
        sid=sid,
        deny=effect == "Deny",
        actions=actions,
        not_action=not_action,
        resources=_resources(statement, kind),
        principals=_principals(statement, kind),
        conditions=_conditions(statement.get("Condition")),
    )


def _actions(statement: dict[str, Any], kind: PolicyKind) -> tuple[list[str], bool]:
    if "Action" in statement and "NotAction" in statement:
        raise _Refused("give Action or NotAction, not both.")
    if "Action" not in statement and "NotAction" not in statement:
        raise _Refused("Action is required.")
    not_action = "NotAction" in statement
    element = "NotAction" if not_action else "Action"
    actions = _strings(statement[element], element)
    for action in actions:
        if kind is PolicyKind.IDENTITY and not _ANY_ACTION.fullmatch(action):
            raise _Refused(
                f"{element} {action!r} is not <service>:<action> (wildcards * and ? allowed) or *."
            )
        if kind in (PolicyKind.KEY, PolicyKind.SECRET) and not _KMS_ACTION.fullmatch(action):
            raise _Refused("each Action is kms:<name> (wildcards * and ? allowed).")
        if kind is PolicyKind.TRUST and action.lower() != _ASSUME_ROLE:
            raise _Refused("a trust policy's Action is sts:AssumeRole.")
    return actions, not_action


def _resources(statement: dict[str, Any], kind: PolicyKind) -> _Resources | None:
    if kind is PolicyKind.TRUST and "Resource" not in statement:
        return None
    if "Resource" not in statement:
        raise _Refused("Resource is required.")
    resources = _strings(statement["Resource"], "Resource")
    if kind is not PolicyKind.IDENTITY:
        if any(r != "*" for r in resources):
            raise _Refused(f'Resource must be "*": a {kind} policy governs only its own {_OWN[kind]}.')
        return None
    for resource in resources:
        if resource != "*" and not _ARN.fullmatch(resource):
            raise _Refused(
                f"Resource {resource!r} is not * or an ARN acs:<service>:<region>:<account>:<resource>."
            )
    if "*" in resources:
        return None
    return _Resources(resources)


_OWN = {PolicyKind.KEY: "key", PolicyKind.SECRET: "secret", PolicyKind.TRUST: "role"}


def _principals(statement: dict[str, Any], kind: PolicyKind) -> _Principals | None:
    if kind is PolicyKind.IDENTITY:
        return None  # "Principal" is not among an identity policy's elements
    principal = statement.get("Principal")
    allowed = {"RAM", "Service"} if kind is PolicyKind.TRUST else {"RAM"}
    shape = '{"RAM": [...], "Service": [...]}' if kind is PolicyKind.TRUST else '{"RAM": [...]}'
    if not isinstance(principal, dict) or not principal or not set(principal) <= allowed:
        raise _Refused(f"Principal must be {shape}.")
    ram = _strings(principal["RAM"], "Principal RAM") if "RAM" in principal else []
    for arn in ram:
        if not _RAM_PRINCIPAL.fullmatch(arn):
            raise _Refused("each RAM principal is acs:ram::<uid>:*, :root, :user/<name> or :role/<name>.")
    services = _strings(principal["Service"], "Principal Service") if "Service" in principal else []
    for service in services:
        if not _SERVICE_PRINCIPAL.fullmatch(service):
            raise _Refused(f"Service principal {service!r} is not a service name.")
    return _Principals(ram, services, members_of_owner=kind is PolicyKind.TRUST)


def _conditions(condition: Any) -> tuple[Clause, ...]:
    if condition is None:
        return ()
    if not isinstance(condition, dict):
        raise _Refused("Condition must be a JSON object.")
    clauses = []
    for operator, keys in condition.items():
        if operator not in OPERATORS:
            raise _Refused(f"unknown condition operator {operator}.")
        if not isinstance(keys, dict) or not keys:
            raise _Refused(f"{operator} takes an object of condition keys.")
        for key, values in keys.items():
            try:
                clauses.append(compile_clause(operator, key, values))
            except ConditionError as refused:
                raise _Refused(str(refused)) from None
    return tuple(clauses)
