"""`openkms envelope encrypt|decrypt`: a file of any size sealed under a data key from
GenerateDataKey, in the chunked format of :mod:`openkms.client.envelope` (docs/envelope.md).

The output is written to a private temporary file beside OUT and linked into place only when
complete (and, decrypting, only once the last chunk authenticated), so OUT is never a partial
file and an existing OUT is never replaced. Decrypting to ``-`` spools the plaintext into an
unlinked temporary file and copies it to standard output only after the last chunk
authenticated (encrypting to ``-`` spools the same way, so a failure writes nothing). A
progress bar is drawn on standard error when it is a terminal.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import contextlib
import json
import os
import secrets
import shutil
import stat
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any, BinaryIO

from openkms.cli_call import UsageError, add_connection_args, connect, report, v4_scope
from openkms.client import envelope
from openkms.client.transport import ApiError, Client, TransportError

KMS_VERSION = "2016-01-20"


class Progress:
    """A one-line bar on a terminal: bytes done (and the share of ``total`` when known)."""

    def __init__(self, stream: IO[str], total: int | None) -> None:
        self.stream, self.total, self.last, self.done = stream, total, 0.0, 0

    def __call__(self, done: int) -> None:
        self.done = done
        now = time.monotonic()
        if now - self.last >= 0.1:
            self.last = now
            self._draw()

    def _draw(self) -> None:
        mib = f"{self.done / 2**20:,.1f} MiB"
        if self.total:
            share = min(self.done / self.total, 1.0)
            filled = int(share * 30)
            self.stream.write(f"\r[{'#' * filled}{'.' * (30 - filled)}] {share:4.0%} {mib}")
        else:
            self.stream.write(f"\r{mib}")
        self.stream.flush()

    def finish(self) -> None:
        self._draw()
        self.stream.write("\n")
        self.stream.flush()


def _progress(total: int | None, quiet: bool) -> Progress | None:
    if quiet or not sys.stderr.isatty():
        return None
    return Progress(sys.stderr, total)


def _size(f: BinaryIO) -> int | None:
    try:
        st = os.fstat(f.fileno())
    except (OSError, ValueError):
        return None
    return st.st_size if stat.S_ISREG(st.st_mode) else None


def _context(pairs: list[str] | None) -> dict[str, str]:
    context: dict[str, str] = {}
    for pair in pairs or []:
        key, eq, value = pair.partition("=")
        if not eq or not key:
            raise UsageError(f"--context wants KEY=VALUE, got {pair!r}")
        if key in context:
            raise UsageError(f"--context names {key!r} twice")
        context[key] = value
    return context


@contextlib.contextmanager
def source(name: str) -> Iterator[BinaryIO]:
    """The file ``name`` (``-``: standard input) open for reading; :class:`UsageError` if it cannot be."""
    if name == "-":
        yield sys.stdin.buffer
        return
    try:
        f = open(name, "rb")  # noqa: SIM115 - closed below
    except OSError as exc:
        raise UsageError(f"cannot read {name}: {exc.strerror}") from None
    with f:
        yield f


class Output:
    """OUT as a private temporary file that becomes OUT only by :meth:`commit`."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.path: Path | None = None
        if name == "-":
            self.file: BinaryIO = tempfile.TemporaryFile()  # noqa: SIM115 - unlinked already
            return
        target = Path(name)
        if os.path.lexists(target):
            raise UsageError(f"{name} exists; openkms never replaces a file")
        try:
            fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".part")
        except OSError as exc:
            raise UsageError(f"cannot write in {target.parent}: {exc.strerror}") from None
        self.path = Path(tmp)
        self.file = os.fdopen(fd, "wb")

    def commit(self) -> None:
        self.file.flush()
        if self.path is None:
            self.file.seek(0)
            shutil.copyfileobj(self.file, sys.stdout.buffer, 1 << 20)
            sys.stdout.buffer.flush()
            self.file.close()
            return
        os.fsync(self.file.fileno())
        self.file.close()
        # link, not rename: a file that appeared at OUT meanwhile is not replaced.
        os.link(self.path, self.name)
        self.path.unlink()
        self.path = None

    def discard(self) -> None:
        if not self.file.closed:
            self.file.close()
        if self.path is not None:
            self.path.unlink(missing_ok=True)
            self.path = None


def _data_key(answer: dict[str, Any]) -> bytes:
    try:
        key = base64.b64decode(str(answer.get("Plaintext", "")), validate=True)
    except (binascii.Error, ValueError):
        key = b""
    if len(key) != envelope.KEY_LEN:
        raise envelope.EnvelopeError("the server's data key is not 32 bytes of Base64")
    return key


def _encrypt(args: argparse.Namespace, client: Client) -> None:
    context = _context(args.context)
    with source(args.input) as src:
        out = Output(args.output)
        try:
            params = {"KeyId": args.key, "KeySpec": "AES_256"}
            if context:
                params["EncryptionContext"] = json.dumps(context, ensure_ascii=False)
            answer = client.call("GenerateDataKey", KMS_VERSION, params, v4_scope(args, client, "Kms"))
            blob = str(answer.get("CiphertextBlob") or "")
            if not blob.isascii():
                raise envelope.EnvelopeError("the server's CiphertextBlob is not ASCII")
            header = envelope.Header(
                envelope.CHUNK_SIZE, secrets.token_bytes(envelope.PREFIX_LEN), blob, context
            )
            bar = _progress(_size(src), args.quiet)
            try:
                envelope.encrypt_stream(_data_key(answer), header, src, out.file, bar)
                out.commit()
            finally:
                if bar is not None:
                    bar.finish()  # also before an error's message, which then starts a line
        finally:
            out.discard()


def _decrypt(args: argparse.Namespace, client: Client) -> None:
    with source(args.input) as src:
        header, raw = envelope.read_header(src)
        out = Output(args.output)
        try:
            params = {"CiphertextBlob": header.blob}
            if header.context:
                params["EncryptionContext"] = json.dumps(header.context, ensure_ascii=False)
            answer = client.call("Decrypt", KMS_VERSION, params, v4_scope(args, client, "Kms"))
            total = _size(src)
            if total is not None:
                payload = total - len(raw)
                records = -(-payload // (header.chunk_size + envelope.TAG_LEN))
                total = payload - records * envelope.TAG_LEN
            bar = _progress(total, args.quiet)
            try:
                envelope.decrypt_stream(_data_key(answer), header, raw, src, out.file, bar)
                out.commit()
            finally:
                if bar is not None:
                    bar.finish()
        finally:
            out.discard()


def cmd_envelope(args: argparse.Namespace) -> int:
    try:
        client = connect(args)
    except UsageError as exc:
        print(f"openkms: {exc}", file=sys.stderr)
        return 2
    try:
        (_encrypt if args.envelope_command == "encrypt" else _decrypt)(args, client)
    except UsageError as exc:
        print(f"openkms: {exc}", file=sys.stderr)
        return 2
    except (ApiError, TransportError) as exc:
        return report(exc)
    except envelope.EnvelopeError as exc:
        print(f"openkms: {args.input}: {exc}; nothing was written", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"openkms: {exc.strerror or exc}; nothing was written", file=sys.stderr)
        return 1
    finally:
        client.close()
    return 0


def add_parser(sub: Any) -> None:
    """Add `openkms envelope encrypt|decrypt` to the ``openkms`` parser's subcommands."""
    p = sub.add_parser(
        "envelope",
        help="encrypt a file of any size under a data key from GenerateDataKey, or decrypt one "
        "(docs/envelope.md)",
    )
    p_sub = p.add_subparsers(dest="envelope_command", required=True)
    enc = p_sub.add_parser("encrypt", help="IN sealed in authenticated chunks into OUT (a new file, or -)")
    enc.add_argument("--key", required=True, help="the CMK: key id, ARN, alias/NAME or alias ARN")
    enc.add_argument(
        "--context",
        action="append",
        metavar="KEY=VALUE",
        help="an EncryptionContext pair (repeat); kept in the header, required by Decrypt",
    )
    dec = p_sub.add_parser("decrypt", help="OUT only if every chunk of IN authenticates (a new file, or -)")
    for q in (enc, dec):
        q.add_argument("input", metavar="IN", help="the input file, or - for standard input")
        q.add_argument(
            "output", metavar="OUT", help="the output file (must not exist), or - for standard output"
        )
        q.add_argument("--quiet", action="store_true", help="no progress bar, even on a terminal")
        add_connection_args(q)
    p.set_defaults(func=cmd_envelope)
