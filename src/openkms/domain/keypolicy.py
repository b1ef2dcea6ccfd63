"""Key policies: the grammar a stored key policy must follow, and the default policy.

Every key has one policy, named ``default``. Without one set, a key answers the default policy
(the owner account may do everything). This module only *checks* documents; evaluating them
belongs to access control, which reads the stored text.

Grammar (Alibaba's key-policy rules, see the access-control reference §1-§2)::

    {"Version": "1", "Statement": [ {
        "Sid": <= 128 chars (optional),
        "Effect": "Allow" | "Deny",
        "Principal": {"RAM": ARN | [ARN, ...]},     ARN = acs:ram::<uid>:(*|root|user/<n>|role/<n>)
        "Action": "kms:..." | ["kms:...", ...],     wildcards * and ? allowed
        "Resource": "*" | ["*"],                    a key policy speaks only of its own key
        "Condition": {<operator>: {<key>: value | [values]}}   (optional)
    }, ... ]}

``NotAction``, ``NotResource``, unknown elements, operators and condition keys are refused
rather than silently ignored, so a policy never means less than its author believes. Actions
outside the set that takes effect in key policies are kept (Alibaba accepts and ignores them).
"""

from __future__ import annotations

import json
import re
from typing import Any

from openkms.domain.errors import InvalidValue

POLICY_NAME = "default"
MAX_POLICY_BYTES = 32768
DEFAULT_SID = "kms default key policy"

STATEMENT_ELEMENTS = frozenset({"Sid", "Effect", "Principal", "Action", "Resource", "Condition"})
OPERATORS = frozenset(
    {
        "StringEquals", "StringNotEquals", "StringEqualsIgnoreCase", "StringNotEqualsIgnoreCase",
        "StringLike", "StringNotLike",
        "NumericEquals", "NumericNotEquals", "NumericLessThan", "NumericLessThanEquals",
        "NumericGreaterThan", "NumericGreaterThanEquals",
        "DateEquals", "DateNotEquals", "DateLessThan", "DateLessThanEquals",
        "DateGreaterThan", "DateGreaterThanEquals",
        "Bool", "IpAddress", "NotIpAddress",
    }
)  # fmt: skip
# Condition keys are matched without regard to case, as RAM does.
CONDITION_KEYS = frozenset(
    {
        "acs:sourceip", "acs:sourcevpc", "acs:currenttime", "acs:securetransport",
        "acs:mfapresent", "kms:tag", "kms:encryptionalgorithm",
    }
)  # fmt: skip
_TAG_KEY = re.compile(r"kms:tag/[A-Za-z0-9/\\_\-.+=:@ ]{1,128}", re.IGNORECASE)
_SID = re.compile(r"[A-Za-z0-9_/+=.@\- ]{0,128}")
_PRINCIPAL = re.compile(r"acs:ram::[0-9]{1,32}:(\*|root|user/[^\s*?]{1,128}|role/[^\s*?]{1,128})")
_ACTION = re.compile(r"kms:[A-Za-z*?]{1,128}", re.IGNORECASE)

_P = "Policy"


def default_policy(account_id: str) -> str:
    """The policy a key answers when none was set: its own account may do everything."""
    document = {
        "Version": "1",
        "Statement": [
            {
                "Sid": DEFAULT_SID,
                "Effect": "Allow",
                "Principal": {"RAM": [f"acs:ram::{account_id}:*"]},
                "Action": ["kms:*"],
                "Resource": ["*"],
            }
        ],
    }
    return json.dumps(document, separators=(",", ":"))


def check_key_policy(text: str, parameter: str = _P) -> None:
    """Refuse a key policy document that breaks the grammar above.

    Raises:
        InvalidValue: naming ``parameter``, with the first rule the document breaks.
    """
    if len(text.encode("utf-8")) > MAX_POLICY_BYTES:
        raise InvalidValue(parameter, f"A policy is at most {MAX_POLICY_BYTES} bytes.")
    try:
        document = json.loads(text)
    except (ValueError, RecursionError):
        raise InvalidValue(parameter, "It must be a JSON document.") from None
    if not isinstance(document, dict):
        raise InvalidValue(parameter, "It must be a JSON object.")
    unknown = set(document) - {"Version", "Statement"}
    if unknown:
        raise InvalidValue(parameter, f"Unknown element {sorted(unknown)[0]}.")
    if document.get("Version") != "1":
        raise InvalidValue(parameter, 'Version must be "1".')
    statements = document.get("Statement")
    if not isinstance(statements, list) or not statements:
        raise InvalidValue(parameter, "Statement must be a non-empty list.")
    for number, statement in enumerate(statements, 1):
        _check_statement(statement, f"Statement {number}", parameter)


def _check_statement(statement: Any, where: str, parameter: str) -> None:
    def refuse(reason: str) -> InvalidValue:
        return InvalidValue(parameter, f"{where}: {reason}")

    if not isinstance(statement, dict):
        raise refuse("a statement is a JSON object.")
    unknown = set(statement) - STATEMENT_ELEMENTS
    if unknown:
        raise refuse(f"element {sorted(unknown)[0]} is not allowed in a key policy.")
    sid = statement.get("Sid", "")
    if not isinstance(sid, str) or not _SID.fullmatch(sid):
        raise refuse("Sid is at most 128 of A-Z a-z 0-9 space _ / + = . @ -.")
    if statement.get("Effect") not in ("Allow", "Deny"):
        raise refuse('Effect must be "Allow" or "Deny".')
    principal = statement.get("Principal")
    if not isinstance(principal, dict) or set(principal) != {"RAM"}:
        raise refuse('Principal must be {"RAM": [...]}.')
    for arn in _strings(principal["RAM"]):
        if arn is None or not _PRINCIPAL.fullmatch(arn):
            raise refuse("each principal is acs:ram::<uid>:*, :root, :user/<name> or :role/<name>.")
    for action in _strings(statement.get("Action")):
        if action is None or not _ACTION.fullmatch(action):
            raise refuse("each Action is kms:<name> (wildcards * and ? allowed).")
    for resource in _strings(statement.get("Resource")):
        if resource != "*":
            raise refuse('Resource must be "*": a key policy governs only its own key.')
    condition = statement.get("Condition", {})
    if not isinstance(condition, dict):
        raise refuse("Condition must be a JSON object.")
    for operator, clauses in condition.items():
        if operator not in OPERATORS:
            raise refuse(f"unknown condition operator {operator}.")
        if not isinstance(clauses, dict) or not clauses:
            raise refuse(f"{operator} takes an object of condition keys.")
        for key, values in clauses.items():
            if key.lower() not in CONDITION_KEYS and not _TAG_KEY.fullmatch(key):
                raise refuse(f"unknown condition key {key}.")
            items = values if isinstance(values, list) else [values]
            if not items or not all(isinstance(v, (str, int, float, bool)) for v in items):
                raise refuse(f"{key} takes a value or a non-empty list of values.")


def _strings(value: Any) -> list[str | None]:
    """A string or a non-empty list of strings as a list; anything else as ``[None]``."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and value:
        return [v if isinstance(v, str) else None for v in value]
    return [None]
