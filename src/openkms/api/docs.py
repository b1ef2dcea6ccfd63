"""Generate docs/api.md from the action tables: ``python -m openkms.api.docs > docs/api.md``.

A test compares the file with this output, so the page cannot drift from what is enforced.
"""

from __future__ import annotations

import json

from openkms.api import KMS_ACTIONS, RAM_ACTIONS, STS_ACTIONS, ActionSpec
from openkms.api.spec import JSONArray, Member, Param, Repeated, within

HEADER = """# openkms API reference

Generated from the action tables (`src/openkms/api/*.py`) by `make docs`; do not edit by hand.
Every action speaks Alibaba Cloud KMS's RPC protocol, version `2016-01-20`, at `POST /` or `GET /`,
signed with V1 (HMAC-SHA1), V3 (ACS3-HMAC-SHA256) or V4 (ACS4-HMAC-SHA256). Every constraint below
is enforced: a missing required parameter is `MissingParameter` (400) and a value outside its
constraint is `InvalidParameter` (400), both naming the parameter. A parameter marked *not supported*
is refused with `UnsupportedOperation` (400) rather than ignored, before the action does anything.
"""


def _member(m: Member) -> str:
    """One member of a JSON array's objects, or the rule on each string element."""
    parts: list[str] = []
    if m.kind is list:
        parts.append("list of strings" + (f", {within(m.min, m.max)} items" if m.min or m.max else ""))
    elif m.min is not None or m.max is not None:
        parts.append(f"length {within(m.min, m.max)}")
    if m.enum:
        parts.append("one of " + ", ".join(f"`{v}`" for v in m.enum))
    if m.default is not None:
        parts.append(f"default {json.dumps(m.default)}")
    if m.nullable:
        parts.append("may be null")
    return ", ".join(parts) or "string"


def _count(lo: int, hi: int | None) -> str:
    """How many items a JSON array holds, in words ("1-20 ", "at most 10 ", "1 or more ")."""
    if hi is None:
        return f"{lo} or more " if lo else ""
    return f"{lo}-{hi} " if lo else f"at most {hi} "


def _json_array(p: JSONArray) -> str:
    count = _count(p.min_items, p.max_items)
    if p.fields:
        members = "; ".join(f"{f.name}{' (required)' if f.required else ''}: {_member(f)}" for f in p.fields)
        shape = f"{count}objects {{{members}}}"
    else:
        shape = f"{count}strings, each {_member(p.item)}"
    text = f"; text length {within(p.min, p.max)}" if p.min is not None or p.max is not None else ""
    return f"JSON array of {shape}{text}"


def _constraint(p: Param) -> str:
    if isinstance(p, JSONArray):
        return _json_array(p)
    parts: list[str] = []
    if p.enum:
        parts.append("one of " + ", ".join(f"`{v}`" for v in p.enum))
    if p.kind is int and (p.min is not None or p.max is not None):
        parts.append(f"integer {within(p.min, p.max)}")
    elif p.kind is int:
        parts.append("integer")
    elif p.kind is bool:
        parts.append("`true`/`false` (any case)")
    elif p.min is not None or p.max is not None:
        parts.append(f"length {within(p.min, p.max)}")
    if p.pattern:
        parts.append(f"matches `{p.pattern}`")
    if p.allow_empty:
        parts.append("may be empty")
    if isinstance(p, Repeated):
        each = "; ".join(
            f"{f.name}{' (required)' if f.required else ''}: {_constraint(f) or 'string'}" for f in p.fields
        )
        if not p.fields:
            each = "; ".join(parts) or "string"
        return f"up to {p.max_items} items, N = 1..{p.max_items}; each {each}"
    return "; ".join(parts)


RAM_HEADER = """# RAM API (version 2015-05-01)

The same endpoint serves a subset of Alibaba Cloud RAM's API, version `2015-05-01`, for the
official `alibabacloud-ram20150501` SDK: users, their AccessKeys, groups, roles, custom and
system policies and their attachments, in the account of the AccessKey that signs the request
(docs/access-control.md). A bad value is `InvalidParameter.<Name>.<Fault>` (400: `Length`,
`InvalidChars`, `Format`, `Range`; `InvalidParameter.PolicyType` for a type that is neither
System nor Custom) and a missing one `MissingParameter`, as RAM answers them.
"""


STS_HEADER = """# STS API (version 2015-04-01)

The same endpoint serves Alibaba Cloud STS's `AssumeRole` and `GetCallerIdentity`, version
`2015-04-01`, for the official `alibabacloud-sts20150401` SDK and the `RamRoleArnCredentialsProvider`
of `alibabacloud-credentials` (which needs the endpoint served over TLS); see
docs/access-control.md, "STS: temporary credentials". A bad value is `InvalidParameter.<Name>`
(400; `InvalidParameter.PolicySize` for a Policy over 2048 characters, `.PolicyGrammar` for one
the policy grammar refuses) and a missing one `MissingParameter`.
"""


def render() -> str:
    out = [HEADER]
    _actions(out, KMS_ACTIONS)
    out.append(RAM_HEADER)
    _actions(out, RAM_ACTIONS)
    out.append(STS_HEADER)
    _actions(out, STS_ACTIONS)
    return "\n".join(out).rstrip() + "\n"


def _actions(out: list[str], table: dict[str, ActionSpec]) -> None:
    for name in sorted(table):
        spec = table[name]
        out.append(f"## {name}\n")
        if spec.doc:
            out.append(spec.doc + "\n")
        out.append(f"Permission: `{spec.action_permission}`\n")
        if not spec.params and not spec.unsupported:
            out.append("No action-specific parameters.\n")
            continue
        out.append("| Parameter | Required | Default | Constraint | Notes |")
        out.append("|---|---|---|---|---|")
        for p in spec.params:
            default = "" if p.default is None else f"`{p.default}`"
            notes = p.doc.replace("|", r"\|")
            constraint = _constraint(p).replace("|", r"\|")
            required = "yes" if p.required else "no"
            out.append(f"| {p.wire_name} | {required} | {default} | {constraint} | {notes} |")
        for u in spec.unsupported:
            notes = u.doc.replace("|", r"\|")
            out.append(f"| {u.name} | no |  | not supported: 400 `UnsupportedOperation` | {notes} |")
        out.append("")


if __name__ == "__main__":
    print(render(), end="")
