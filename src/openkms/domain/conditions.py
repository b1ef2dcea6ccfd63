"""Policy conditions: the 21 operators, the condition keys openkms knows, and how a clause
(``{"<Operator>": {"<key>": value or [values]}}``) is checked against a request.

Operators (all of Alibaba's list; nothing else, so no ``…IfExists``, ``ForAnyValue:``,
``ForAllValues:``, ``Null``, ``Arn…`` or ``Binary…``):

=========  ===========================================================================
String     StringEquals, StringNotEquals, StringEqualsIgnoreCase,
           StringNotEqualsIgnoreCase, StringLike, StringNotLike (``*`` and ``?``)
Numeric    NumericEquals, NumericNotEquals, NumericLessThan, NumericLessThanEquals,
           NumericGreaterThan, NumericGreaterThanEquals
Date       DateEquals, DateNotEquals, DateLessThan, DateLessThanEquals,
           DateGreaterThan, DateGreaterThanEquals (ISO 8601, e.g. 2012-11-11T23:59:59Z)
Boolean    Bool
IP         IpAddress, NotIpAddress (an address or a CIDR block, IPv4 or IPv6)
=========  ===========================================================================

Keys (names compared without regard to case; a tag key keeps its case):

========================  ======  ==========================================================
acs:SourceIp              IP      the client's address
acs:CurrentTime           date    when the request was received
acs:SecureTransport       bool    the request came over TLS
acs:MFAPresent            bool    always false: an AccessKey carries no MFA
acs:SourceVpc             string  always absent: openkms is not inside an Alibaba VPC
kms:EncryptionAlgorithm   string  the algorithm the request names
kms:tag/<TagKey>          string  the value of that tag on the key or secret
kms:tag                   string  each tag of the key or secret, written ``<TagKey>:<TagValue>``
========================  ======  ==========================================================

An IP key takes only the IP operators, a date key the Date ones, a bool key ``Bool``; a string key
takes the String operators, and also the Numeric and Date ones, which read the value as a number
or a date (a value that is not one matches no policy value). A clause with anything else is
refused when its policy is parsed, as is a value of the wrong type.

Meaning: within one key, any policy value may match (OR); every key of an operator, and every
operator of a statement, must hold (AND). A key with several values in the request (``kms:tag``)
holds when any of them matches. A key absent from the request fails every positive operator and
satisfies every negated one (``…Not…``, ``NotIpAddress``); where present, a negated operator holds
exactly when its positive twin does not.
"""

from __future__ import annotations

import operator as op
import re
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from enum import Enum
from ipaddress import IPv4Network, IPv6Address, IPv6Network, ip_network
from typing import Any

from openkms.domain.access import Check, RequestContext
from openkms.domain.wildcard import Glob

__all__ = ["OPERATORS", "Clause", "ConditionError", "compile_clause", "is_condition_key"]


class ConditionError(ValueError):
    """A clause the grammar refuses; the message says why."""


class _Type(Enum):
    STRING = "string"
    NUMBER = "number"
    DATE = "date"
    BOOL = "bool"
    IP = "IP address"


# operator -> (the type it compares, the comparison, negated)
_EQ, _LT, _LE, _GT, _GE = op.eq, op.lt, op.le, op.gt, op.ge
_S_EQ, _S_FOLD, _S_LIKE = "equals", "fold", "like"
OPERATORS: dict[str, tuple[_Type, Any, bool]] = {
    "StringEquals": (_Type.STRING, _S_EQ, False),
    "StringNotEquals": (_Type.STRING, _S_EQ, True),
    "StringEqualsIgnoreCase": (_Type.STRING, _S_FOLD, False),
    "StringNotEqualsIgnoreCase": (_Type.STRING, _S_FOLD, True),
    "StringLike": (_Type.STRING, _S_LIKE, False),
    "StringNotLike": (_Type.STRING, _S_LIKE, True),
    "NumericEquals": (_Type.NUMBER, _EQ, False),
    "NumericNotEquals": (_Type.NUMBER, _EQ, True),
    "NumericLessThan": (_Type.NUMBER, _LT, False),
    "NumericLessThanEquals": (_Type.NUMBER, _LE, False),
    "NumericGreaterThan": (_Type.NUMBER, _GT, False),
    "NumericGreaterThanEquals": (_Type.NUMBER, _GE, False),
    "DateEquals": (_Type.DATE, _EQ, False),
    "DateNotEquals": (_Type.DATE, _EQ, True),
    "DateLessThan": (_Type.DATE, _LT, False),
    "DateLessThanEquals": (_Type.DATE, _LE, False),
    "DateGreaterThan": (_Type.DATE, _GT, False),
    "DateGreaterThanEquals": (_Type.DATE, _GE, False),
    "Bool": (_Type.BOOL, _EQ, False),
    "IpAddress": (_Type.IP, None, False),
    "NotIpAddress": (_Type.IP, None, True),
}

# What a key's request values are read from: (context, check) -> the values, () when absent.
_Reader = Callable[[RequestContext, Check], Sequence[Any]]


def _source_ip(ctx: RequestContext, check: Check) -> Sequence[Any]:
    ip = ctx.source_ip
    if ip is None:
        return ()
    if isinstance(ip, IPv6Address) and ip.ipv4_mapped is not None:
        return (ip.ipv4_mapped,)  # an IPv4 client seen through a dual-stack socket
    return (ip,)


def _tag_pairs(ctx: RequestContext, check: Check) -> Sequence[Any]:
    return tuple(f"{k}:{v}" for k, v in check.tags.items())


def _tag_reader(tag_key: str) -> _Reader:
    def read(ctx: RequestContext, check: Check) -> Sequence[Any]:
        value = check.tags.get(tag_key)
        return () if value is None else (value,)

    return read


def _algorithm(ctx: RequestContext, check: Check) -> Sequence[Any]:
    return () if ctx.encryption_algorithm is None else (ctx.encryption_algorithm,)


# lower-cased key -> (its type, its reader)
_KEYS: dict[str, tuple[_Type, _Reader]] = {
    "acs:sourceip": (_Type.IP, _source_ip),
    "acs:currenttime": (_Type.DATE, lambda ctx, check: (ctx.current_time,)),
    "acs:securetransport": (_Type.BOOL, lambda ctx, check: (ctx.secure_transport,)),
    "acs:mfapresent": (_Type.BOOL, lambda ctx, check: (False,)),
    "acs:sourcevpc": (_Type.STRING, lambda ctx, check: ()),
    "kms:encryptionalgorithm": (_Type.STRING, _algorithm),
    "kms:tag": (_Type.STRING, _tag_pairs),
}
_TAG_PREFIX = "kms:tag/"
_TAG_KEY = re.compile(r"[A-Za-z0-9/\\_\-.+=:@ ]{1,128}")
# The operator types each key type takes.
_TAKES = {
    _Type.STRING: {_Type.STRING, _Type.NUMBER, _Type.DATE},
    _Type.DATE: {_Type.DATE},
    _Type.BOOL: {_Type.BOOL},
    _Type.IP: {_Type.IP},
}


def is_condition_key(key: str) -> bool:
    return _key(key) is not None


def _key(key: str) -> tuple[_Type, _Reader] | None:
    lowered = key.lower()
    known = _KEYS.get(lowered)
    if known is not None:
        return known
    if lowered.startswith(_TAG_PREFIX) and _TAG_KEY.fullmatch(key[len(_TAG_PREFIX) :]):
        return _Type.STRING, _tag_reader(key[len(_TAG_PREFIX) :])
    return None


# Policy values --------------------------------------------------------------------------------


def _number(value: Any) -> Decimal | None:
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        return None
    try:
        number = Decimal(str(value).strip())
    except InvalidOperation:
        return None
    return number if number.is_finite() else None


def _date(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value if value.tzinfo is not None else value.replace(tzinfo=UTC)
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def _string(value: Any) -> str | None:
    if isinstance(value, bool):
        return "true" if value else "false"  # unquoted JSON booleans and numbers are accepted
    if isinstance(value, (str, int, float)):
        return str(value)
    return None


def _bool(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    return None


def _network(value: Any) -> IPv4Network | IPv6Network | None:
    if not isinstance(value, str):
        return None
    try:
        return ip_network(value.strip(), strict=False)
    except ValueError:
        return None


_PARSE: dict[_Type, Callable[[Any], Any]] = {
    _Type.STRING: _string,
    _Type.NUMBER: _number,
    _Type.DATE: _date,
    _Type.BOOL: _bool,
    _Type.IP: _network,
}


# Clauses --------------------------------------------------------------------------------------


class Clause:
    """One ``<operator>: {<key>: values}`` pair, compiled: ``holds(ctx, check)``."""

    __slots__ = ("_read", "_test", "key", "negated", "operator")

    def __init__(
        self, operator: str, key: str, read: _Reader, test: Callable[[Any], bool], negated: bool
    ) -> None:
        self.operator = operator
        self.key = key
        self.negated = negated
        self._read = read
        self._test = test

    def holds(self, ctx: RequestContext, check: Check) -> bool:
        values = self._read(ctx, check)
        if not values:
            return self.negated
        test = self._test
        for value in values:
            if test(value):
                return not self.negated
        return self.negated

    def __repr__(self) -> str:
        return f"Clause({self.operator}, {self.key})"


def compile_clause(operator: str, key: str, raw: Any) -> Clause:
    """Compile one clause of a policy's Condition.

    Raises:
        ConditionError: an unknown operator or key, an operator the key does not take, or a value
            of the wrong type.
    """
    spec = OPERATORS.get(operator)
    if spec is None:
        raise ConditionError(f"unknown condition operator {operator}.")
    kind, compare, negated = spec
    found = _key(key)
    if found is None:
        raise ConditionError(f"unknown condition key {key}.")
    key_type, read = found
    if kind not in _TAKES[key_type]:
        raise ConditionError(f"{operator} does not apply to {key} (a {key_type.value} key).")
    items = raw if isinstance(raw, list) else [raw]
    values = [_PARSE[kind](v) for v in items]
    if not items or any(v is None for v in values):
        raise ConditionError(f"{operator} on {key} takes a {kind.value} or a non-empty list of them.")
    return Clause(operator, key, read, _test(kind, compare, values), negated)


def _test(kind: _Type, compare: Any, values: list[Any]) -> Callable[[Any], bool]:
    """The positive test of one request value against the clause's policy values (any may match)."""
    if kind is _Type.STRING:
        if compare == _S_EQ:
            exact = frozenset(values)
            return lambda v: v in exact
        if compare == _S_FOLD:
            folded = frozenset(s.casefold() for s in values)
            return lambda v: v.casefold() in folded
        globs = tuple(Glob(s) for s in values)
        return lambda v: any(g.match(v) for g in globs)
    if kind is _Type.IP:
        networks = tuple(values)
        return lambda v: any(v in n for n in networks)
    if kind is _Type.BOOL:
        return lambda v: v in values
    # Numbers and dates: a string key's value is read as one first; one that is not matches nothing.
    convert: Callable[[Any], Any] = _number if kind is _Type.NUMBER else _date

    def test(v: Any) -> bool:
        mine = convert(v)
        return mine is not None and any(compare(mine, p) for p in values)

    return test
