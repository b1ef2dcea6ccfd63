"""`openkms kms COMMAND [--option value ...]`: every KMS (2016-01-20) action as a subcommand,
generated from the server's own action table (:data:`openkms.api.KMS_ACTIONS`).

``CreateKey`` is ``create-key`` and its ``KeySpec`` is ``--key-spec``: an option per declared
parameter, typed (integers, ``--flag``/``--no-flag`` for booleans, the enumerations' choices),
required where the action requires it, its help the parameter's own doc line. Repeat lists are
repeated options (``--resource-id K1 --resource-id K2``, ``--tag KEY=VALUE``). :data:`FILES` adds
what a person at a shell needs on a few actions: a parameter from a file or standard input
(Base64-encoded for the wire where the wire carries bytes), and one field of the answer written
to a file (decoded from Base64 where it holds bytes). The calls, credentials, errors and output
are `openkms call`'s (:mod:`openkms.cli_call`): exit 0, 1 for an error answer (its Code on
standard error), 2 for a usage error.

The table is read only when `openkms kms` runs: importing it costs every other command a second.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from openkms.cli_call import (
    UsageError,
    add_connection_args,
    add_output_arg,
    connect,
    print_answer,
    report,
    v4_scope,
)
from openkms.cli_envelope import Output, source
from openkms.client.transport import ApiError, TransportError

if TYPE_CHECKING:
    from openkms.api.spec import ActionSpec, Param

KMS_VERSION = "2016-01-20"

# How a file's content becomes a parameter, or an answer's field a file's content.
BYTES = "bytes"  # raw bytes, Base64 on the wire
TEXT = "text"  # UTF-8 text, as it is
BASE64 = "base64"  # a Base64 text such as a CiphertextBlob; surrounding whitespace dropped


@dataclass(frozen=True)
class Files:
    """The file conveniences of one action.

    ``inputs``: parameters that ``--NAME-file FILE`` (``-``: standard input) may give instead
    of ``--NAME``, and how the file is read. ``stdin``: the parameter read from standard input
    when neither option is given and standard input is not a terminal. ``output``: the answer's
    field ``--output-file FILE`` writes, alone (``-``: standard output), and how."""

    inputs: Mapping[str, str] = field(default_factory=dict)
    stdin: str | None = None
    output: tuple[str, str] | None = None


FILES: dict[str, Files] = {
    "Encrypt": Files({"Plaintext": BYTES}, "Plaintext", ("CiphertextBlob", BASE64)),
    "Decrypt": Files({"CiphertextBlob": BASE64}, "CiphertextBlob", ("Plaintext", BYTES)),
    "AsymmetricEncrypt": Files({"Plaintext": BYTES}, "Plaintext", ("CiphertextBlob", BYTES)),
    "AsymmetricDecrypt": Files({"CiphertextBlob": BYTES}, "CiphertextBlob", ("Plaintext", BYTES)),
    "AsymmetricSign": Files({"Digest": BYTES}, "Digest", ("Value", BYTES)),
    "AsymmetricVerify": Files({"Digest": BYTES, "Value": BYTES}),
    "GenerateMac": Files({"Message": BYTES}, "Message", ("Mac", BYTES)),
    "VerifyMac": Files({"Message": BYTES, "Mac": BYTES}),
    "GetPublicKey": Files(output=("PublicKey", TEXT)),
    "CreateSecret": Files({"SecretData": TEXT}),
    "PutSecretValue": Files({"SecretData": TEXT}),
    "GetSecretValue": Files(output=("SecretData", TEXT)),
}

_READS = {
    BYTES: "its bytes, sent as Base64",
    TEXT: "its UTF-8 text, as it is",
    BASE64: "its Base64 text",
}
_WRITES = {
    BYTES: "the bytes its Base64 holds",
    TEXT: "its text, as it is",
    BASE64: "its Base64 text",
}


def command(action: str) -> str:
    """``CreateKey`` -> ``create-key``."""
    from openkms.api.spec import snake

    return snake(action).replace("_", "-")


def _escape(text: str) -> str:
    return text.replace("%", "%%")  # argparse formats help with %


def _help(p: Param) -> str:
    from openkms.api.spec import within

    words = [p.doc.rstrip(".") + "." if p.doc else ""]
    if p.kind is int and (p.min is not None or p.max is not None):
        words.append(f"An integer {within(p.min, p.max)}.")
    if p.default not in (None, "") and not isinstance(p.default, bool):
        words.append(f"Server default: {p.default}.")
    return _escape(" ".join(w for w in words if w))


def _dest(p: Param) -> str:
    return "p_" + p.arg


def _add_param(q: argparse.ArgumentParser, spec: ActionSpec, p: Param, files: Files) -> None:
    from openkms.api.spec import JSONArray, Repeated

    flag = "--" + command(p.name)
    if isinstance(p, Repeated):
        if p.fields and [f.name for f in p.fields] != ["Key", "Value"]:
            raise AssertionError(f"{spec.name}.{p.name}: no option shape for fields {p.fields}")
        shape = "KEY[=VALUE]" if p.fields else p.arg.upper()
        q.add_argument(
            flag, dest=_dest(p), action="append", required=p.required, metavar=shape,
            help=_help(p) + " Repeat the option for more.",
        )  # fmt: skip
        return
    if p.kind is bool:
        q.add_argument(
            flag, dest=_dest(p), action=argparse.BooleanOptionalAction, required=p.required, help=_help(p)
        )
        return
    extra = " A JSON array." if isinstance(p, JSONArray) else ""
    kwargs: dict[str, Any] = {"dest": _dest(p), "help": _help(p) + extra, "metavar": p.arg.upper()}
    if p.kind is int:
        kwargs["type"] = int
    if p.enum is not None:
        kwargs["choices"] = p.enum
        del kwargs["metavar"]
    how = files.inputs.get(p.name)
    if how is None:
        q.add_argument(flag, required=p.required, **kwargs)
        return
    # The value or a file: one of them is required, unless standard input may stand in.
    group = q.add_mutually_exclusive_group(required=p.required and files.stdin != p.name)
    group.add_argument(flag, **kwargs)
    stdin = " Standard input when neither is given and it is not a terminal." if files.stdin == p.name else ""
    group.add_argument(
        flag + "-file", dest=_dest(p) + "_file", metavar="FILE",
        help=f"{p.name} from FILE (- for standard input): {_READS[how]}.{stdin}",
    )  # fmt: skip


def build_parser() -> argparse.ArgumentParser:
    """`openkms kms` and a subcommand per KMS action."""
    from openkms.api import KMS_ACTIONS

    parser = argparse.ArgumentParser(
        prog="openkms kms",
        description="Call a KMS action of an endpoint, signed with V3 (docs/cli.md). The connection "
        "flags go before or after the command.",
    )
    add_connection_args(parser)
    add_output_arg(parser)
    sub = parser.add_subparsers(dest="kms_command", required=True, metavar="COMMAND")
    for name, spec in KMS_ACTIONS.items():
        files = FILES.get(name, Files())
        summary = spec.doc.split(". ")[0].rstrip(".")
        q = sub.add_parser(command(name), help=_escape(summary), description=_escape(f"{name}: {spec.doc}"))
        for p in spec.params:
            _add_param(q, spec, p, files)
        if files.output is not None:
            what, how = files.output
            q.add_argument(
                "--output-file", metavar="FILE",
                help=f"write the answer's {what} alone to FILE (a new file, 0600; - for standard "
                f"output): {_WRITES[how]}",
            )  # fmt: skip
        add_connection_args(q, argparse.SUPPRESS)
        add_output_arg(q, argparse.SUPPRESS)
        q.set_defaults(kms_action=name)
    return parser


def _read(name: str, how: str, p: Param) -> str:
    from openkms.api.spec import MAX_PARAM_LEN

    # The server refuses a longer value whatever it is: a huge file is not read to be sent.
    limit = max(MAX_PARAM_LEN, p.max or 0)
    with source(name) as f:
        data = f.read(4 * limit + 1)  # a character is at most 4 bytes of UTF-8
    too_large = UsageError(f"{name} is too large for {p.name} (at most {limit} characters on the wire)")
    if len(data) > 4 * limit:
        raise too_large
    if how == BYTES:
        text = base64.b64encode(data).decode()
    else:
        try:
            text = data.decode()
        except UnicodeDecodeError:
            raise UsageError(f"{p.name} from {name} is not UTF-8 text") from None
        text = text.strip() if how == BASE64 else text
    if len(text) > limit:
        raise too_large
    return text


def wire_params(spec: ActionSpec, files: Files, args: argparse.Namespace) -> dict[str, str]:
    """The request's parameters as the wire spells them, from the parsed options."""
    from openkms.api.spec import Repeated

    params: dict[str, str] = {}
    for p in spec.params:
        value = getattr(args, _dest(p), None)
        path = getattr(args, _dest(p) + "_file", None)
        if path is None and value is None and files.stdin == p.name:
            if sys.stdin.isatty():
                raise UsageError(f"give --{command(p.name)}, --{command(p.name)}-file or standard input")
            path = "-"
        if path is not None:
            params[p.name] = _read(path, files.inputs[p.name], p)
        elif isinstance(p, Repeated):
            for n, item in enumerate(value or [], 1):
                if not p.fields:
                    params[f"{p.name}.{n}"] = item
                    continue
                key, eq, text = item.partition("=")
                params[f"{p.name}.{n}.Key"] = key
                if eq:
                    params[f"{p.name}.{n}.Value"] = text
        elif isinstance(value, bool):
            params[p.name] = "true" if value else "false"
        elif value is not None:
            params[p.name] = str(value)
    return params


class Unwritable(Exception):
    """The answer has no such field, or not in the form to write: exit 1, nothing written."""


def _field(answer: Mapping[str, Any], what: str, how: str) -> bytes:
    value = answer.get(what)
    if not isinstance(value, str):
        raise Unwritable(f"the answer has no {what}")
    if how != BYTES:
        return value.encode()
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise Unwritable(
            f"the answer's {what} is not Base64 (it was encrypted as text: leave out --output-file)"
        ) from None


def run(args: argparse.Namespace) -> int:
    from openkms.api import KMS_ACTIONS

    spec = KMS_ACTIONS[args.kms_action]
    files = FILES.get(spec.name, Files())
    out: Output | None = None
    try:
        params = wire_params(spec, files, args)
        client = connect(args)
        if getattr(args, "output_file", None):
            out = Output(args.output_file)  # refused before the call if it exists
    except UsageError as exc:
        print(f"openkms: {exc}", file=sys.stderr)
        return 2
    try:
        answer = client.call(spec.name, KMS_VERSION, params, v4_scope(args, client, "Kms"))
        if out is None:
            print_answer(answer, args.output)
            return 0
        assert files.output is not None
        out.file.write(_field(answer, *files.output))
        out.commit()
        return 0
    except (ApiError, TransportError) as exc:
        return report(exc)
    except Unwritable as exc:
        print(f"openkms: {exc}; nothing was written", file=sys.stderr)
        return 1
    finally:
        if out is not None:
            out.discard()
        client.close()


def cmd_kms(args: argparse.Namespace) -> int:
    return run(build_parser().parse_args(args.words))


def add_parser(sub: Any) -> None:
    """Add `openkms kms` to the ``openkms`` parser's subcommands. Its words are parsed by
    :func:`build_parser` when it runs (``prefix_chars`` no word starts with hands them all over,
    ``--help`` included)."""
    p = sub.add_parser(
        "kms",
        help="call a KMS action with options of its own: openkms kms create-key --key-spec "
        "Aliyun_AES_256, openkms kms encrypt --key-id alias/x --plaintext-file F ... "
        "(openkms kms --help lists them; docs/cli.md)",
        add_help=False,
        prefix_chars="\x00",
    )
    p.add_argument("words", nargs=argparse.REMAINDER, help="the command and its options")
    p.set_defaults(func=cmd_kms)
