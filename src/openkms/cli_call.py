"""`openkms call ACTION [--Param value ...]`: any action of an endpoint (KMS 2016-01-20, RAM
2015-05-01, STS 2015-04-01), signed with V3, its answer printed as JSON or a table.

Also what `openkms envelope` and `openkms kms` share: the connection flags and credential lookup
(:func:`add_connection_args`, :func:`connect`), an error's report and the answer's printing
(:func:`report`, :func:`print_answer`). Exit codes: 0 success, 1 an error answer (its Code and
Message on stderr) or no answer at all, 2 a usage error (bad flags, no credentials, an unknown
action or parameter).
"""

from __future__ import annotations

import argparse
import getpass
import json
import os
import re
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from openkms.client import credentials as creds
from openkms.client.transport import ApiError, Client, TransportError, parse_endpoint

if TYPE_CHECKING:
    from openkms.api.spec import ActionSpec

_PARAM = re.compile(r"--([A-Z][A-Za-z0-9]*(?:\.[A-Za-z0-9]+)*)(?:=(.*))?", re.S)


class UsageError(Exception):
    """Exit 2 with this message."""


def add_connection_args(p: argparse.ArgumentParser, default: Any = None) -> None:
    """Endpoint, TLS and credential flags (docs/cli.md, "Credentials"). ``default`` is every
    flag's default: ``argparse.SUPPRESS`` on a subcommand's parser leaves what its parent's
    parser set in place."""
    p.add_argument(
        "--endpoint",
        default=default,
        help="host[:port] (HTTPS) or http(s)://host[:port]; plain HTTP to loopback only",
    )
    p.add_argument(
        "--region",
        default=default,
        help=f"the region a V4 signature's scope names (default: {creds.ENV_REGION}, the profile's "
        "region_id, else cn-hangzhou); V3 sends none",
    )
    p.add_argument(
        "--signature",
        choices=("v3", "v4"),
        default=default,
        help="ACS3-HMAC-SHA256 (v3, default) or ACS4-HMAC-SHA256 (v4)",
    )
    p.add_argument(
        "--ca",
        type=Path,
        metavar="FILE",
        default=default,
        help="PEM file of the CA(s) the server's certificate chains to",
    )
    p.add_argument(
        "--insecure",
        action="store_true",
        default=default,
        help="do not verify the server's certificate (refused unless the endpoint is a loopback address)",
    )
    p.add_argument(
        "--access-key-id",
        default=default,
        help=f"the AccessKeyId; its secret from {creds.ENV_SECRET}, else prompted (never a flag)",
    )
    p.add_argument(
        "--profile", default=default, help=f"profile of the Alibaba Cloud CLI file ({creds.ENV_PROFILE})"
    )
    p.add_argument(
        "--config-path",
        type=Path,
        metavar="FILE",
        default=default,
        help="the Alibaba Cloud CLI configuration file (default ~/.aliyun/config.json)",
    )
    p.add_argument(
        "--timeout", type=float, default=default, help="seconds to wait for an answer (default 30)"
    )


def credentials_from(args: argparse.Namespace, environ: Mapping[str, str]) -> creds.Credentials:
    """Flags, then an explicit profile, then the environment, then the file's current profile."""
    path = args.config_path or creds.default_config_path(environ)
    if args.access_key_id:
        secret = environ.get(creds.ENV_SECRET)
        if not secret:
            if not sys.stdin.isatty():
                raise creds.CredentialError(
                    f"--access-key-id needs its secret in {creds.ENV_SECRET} or a terminal"
                )
            secret = getpass.getpass(f"AccessKeySecret of {args.access_key_id}: ")
        return creds.Credentials(
            args.access_key_id, secret, environ.get(creds.ENV_TOKEN) or None, None, "flags"
        )
    if args.profile:
        return creds.load_profile(path, args.profile)
    found = creds.from_environment(environ)
    if found is not None:
        return found
    if environ.get(creds.ENV_PROFILE) or path.exists():
        return creds.load_profile(path, environ.get(creds.ENV_PROFILE))
    raise creds.CredentialError(
        f"no credentials: give --access-key-id, --profile, set {creds.ENV_ID} and {creds.ENV_SECRET}, "
        f"or write {path}"
    )


def connect(args: argparse.Namespace) -> Client:
    """A client for the endpoint and credentials the flags name; :class:`UsageError` if they don't."""
    if not args.endpoint:
        raise UsageError("give --endpoint host[:port]")
    try:
        endpoint = parse_endpoint(args.endpoint)
        cred = credentials_from(args, os.environ)
        return Client(endpoint, cred, ca=args.ca, insecure=bool(args.insecure), timeout=args.timeout or 30.0)
    except (TransportError, creds.CredentialError) as exc:
        raise UsageError(str(exc)) from None


def v4_scope(args: argparse.Namespace, client: Client, product: str) -> tuple[str, str] | None:
    """(region, product) for a V4 signature when ``--signature v4``; None for V3."""
    if (args.signature or "v3") != "v4":
        return None
    region = args.region or os.environ.get(creds.ENV_REGION) or client.credentials.region or "cn-hangzhou"
    return region, product


def report(exc: ApiError | TransportError) -> int:
    """An error answer's Code and Message (or why there was none) on stderr; exit 1."""
    if isinstance(exc, ApiError):
        rid = f", RequestId {exc.request_id}" if exc.request_id else ""
        print(f"openkms: {exc.code}: {exc.message} (HTTP {exc.status}{rid})", file=sys.stderr)
    else:
        print(f"openkms: {exc}", file=sys.stderr)
    return 1


def split_params(tokens: list[str]) -> tuple[dict[str, str], list[str]]:
    """``--Name value`` / ``--Name=value`` pairs (a name starts with a capital letter; the next
    token is its value whatever it looks like), and the other tokens (the command's flags)."""
    params: dict[str, str] = {}
    rest: list[str] = []
    i = 0
    while i < len(tokens):
        m = _PARAM.fullmatch(tokens[i])
        if m is None:
            rest.append(tokens[i])
            i += 1
            continue
        name, value = m.group(1), m.group(2)
        if value is None:
            if i + 1 >= len(tokens):
                raise UsageError(f"--{name} needs a value")
            value = tokens[i + 1]
            i += 1
        if name in params:
            raise UsageError(f"--{name} is given twice")
        params[name] = value
        i += 1
    return params, rest


def resolve_version(action: str, version: str | None) -> tuple[str, str, ActionSpec | None]:
    """The API version of ``action`` (from the action tables), its product's name as a V4 scope
    spells it, and its spec, when known."""
    from openkms.api import PRODUCTS, VERSIONS

    if version:
        product = VERSIONS.get(version)
        if product is None:
            return version, "Kms", None
        return version, product.name, product.actions.get(action)
    for product in PRODUCTS:
        if action in product.actions:
            return product.version, product.name, product.actions[action]
    raise UsageError(f"no action {action!r} in KMS, RAM or STS; give --version to call it anyway")


def check_params(action: str, spec: ActionSpec, params: Mapping[str, str]) -> None:
    """Refuse a parameter the action does not take (a typo would be ignored by the server)."""
    from openkms.api.spec import Repeated

    if spec.takes_raw:
        return
    plain = {p.name for p in spec.params if not isinstance(p, Repeated)}
    repeated = {p.name: p for p in spec.params if isinstance(p, Repeated)}
    for name in params:
        if name in plain:
            continue
        head, _, rest = name.partition(".")
        index, _, field = rest.partition(".")
        r = repeated.get(head)
        shaped = r is not None and index.isdigit() and bool(field) == bool(r.fields)
        if shaped and (not field or field in {f.name for f in r.fields}):  # type: ignore[union-attr]
            continue
        raise UsageError(f"{action} takes no parameter {name} (docs/api.md lists what it takes)")


def _cell(value: Any) -> str:
    if isinstance(value, (dict, list)):
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _rows(value: Any) -> list[dict[str, Any]] | None:
    """The items of a list of objects, also as Alibaba wraps them (``{"Alias": [...]}``)."""
    if isinstance(value, dict) and len(value) == 1:
        value = next(iter(value.values()))
    if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
        return value
    if isinstance(value, list) and not value:
        return []
    return None


def _grid(header: list[str], rows: list[list[str]]) -> list[str]:
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]

    def line(cells: list[str]) -> str:
        return "  ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)).rstrip()

    return [line(header), line(["-" * w for w in widths]), *map(line, rows)]


def render_table(answer: Mapping[str, Any]) -> str:
    """The answer's scalar fields as FIELD / VALUE rows, then each list of objects as a table
    of its own (one column per field, in the order they first appear)."""
    scalars = [[k, _cell(v)] for k, v in answer.items() if _rows(v) is None]
    out = _grid(["FIELD", "VALUE"], scalars) if scalars else []
    for name, value in answer.items():
        rows = _rows(value)
        if rows is None:
            continue
        columns: list[str] = []
        for row in rows:
            columns += [k for k in row if k not in columns]
        out += ["", f"{name} ({len(rows)})"]
        if rows:
            out += _grid(columns, [[_cell(row.get(c, "")) for c in columns] for row in rows])
    return "\n".join(out)


def print_answer(answer: Mapping[str, Any], output: str | None) -> None:
    """``--output json`` (the default) or ``table``, on standard output."""
    if (output or "json") == "table":
        print(render_table(answer))
    else:
        print(json.dumps(answer, indent=2, ensure_ascii=False))


def cmd_call(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    try:
        params, rest = split_params(args.rest)
        parser.parse_args(rest, namespace=args)  # flags given after ACTION
        if args.rest_again:
            raise UsageError(f"unexpected {' '.join(args.rest_again)} (parameters are --Name value)")
        version, product, spec = resolve_version(args.action, args.api_version)
        if spec is not None:
            check_params(args.action, spec, params)
        client = connect(args)
    except UsageError as exc:
        print(f"openkms: {exc}", file=sys.stderr)
        return 2
    try:
        answer = client.call(args.action, version, params, v4_scope(args, client, product))
    except (ApiError, TransportError) as exc:
        return report(exc)
    finally:
        client.close()
    print_answer(answer, args.output)
    return 0


def _add_call_flags(p: argparse.ArgumentParser) -> None:
    add_connection_args(p)
    p.add_argument("--version", dest="api_version", help="the API version (default: the action's product's)")
    add_output_arg(p)


def add_output_arg(p: argparse.ArgumentParser, default: Any = None) -> None:
    p.add_argument(
        "--output", choices=("json", "table"), default=default, help="how to print the answer (default json)"
    )


def add_parser(sub: Any) -> None:
    """Add `openkms call` to the ``openkms`` parser's subcommands."""
    p = sub.add_parser(
        "call",
        help="call any KMS, RAM or STS action of an endpoint, signed with V3: "
        "openkms call ACTION --Param value ... (docs/cli.md)",
    )
    _add_call_flags(p)
    p.add_argument("action", help="the action, e.g. CreateKey, ListAliases, AssumeRole")
    p.add_argument("rest", nargs=argparse.REMAINDER, help="--Param value ..., and flags")
    # Flags after ACTION are parsed again by a parser that has only the flags.
    again = argparse.ArgumentParser(prog="openkms call", add_help=False)
    _add_call_flags(again)
    again.add_argument("rest_again", nargs="*")
    p.set_defaults(func=_bind(again))


def _bind(again: argparse.ArgumentParser) -> Callable[[argparse.Namespace], int]:
    return lambda args: cmd_call(args, again)
