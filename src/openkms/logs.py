"""Operational logs: one JSON object per line on stderr, for every logger of the process.

openkms, uvicorn and Alembic log through the root logger's one :class:`LineHandler` with
:class:`JsonFormatter` (:func:`configure`; uvicorn applies :func:`dict_config` in the `serve`
process and in each worker process it starts), so no plain-text line is mixed in. A line holds
``time`` (RFC 3339, UTC, milliseconds), ``level``, ``logger``, ``message``, ``request_id`` when
the record carries one, ``pid``, the record's other ``extra=`` fields, and ``exc_info`` (the
traceback as one string) when there is one. The audit trail is a different, durable record;
these lines are for operators.

Every line is written with one ``write(2)`` before the log call returns: a line logged before
an answer is sent is in the kernel (the pipe to the log collector, or the page cache) when the
answer leaves, and ``kill -9`` loses none of it. The write costs about a microsecond
(docs/operations.md, "Logs"); a collector that stops reading a full pipe stalls the writer,
as it would any program writing to it. Must not import from the rest of openkms.
"""

from __future__ import annotations

import json
import logging
import logging.config
import math
import os
import sys
import threading
import time
from collections.abc import Callable
from itertools import islice
from json.encoder import encode_basestring_ascii
from types import TracebackType
from typing import Any, TextIO

# The values of the log_level setting, and the level each stands for.
LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING, "error": logging.ERROR}
_NAMES = {logging.DEBUG: "debug", logging.INFO: "info", logging.WARNING: "warning", logging.ERROR: "error",
          logging.CRITICAL: "critical"}  # fmt: skip
# Loggers of the libraries the server runs on. They say at INFO what an operator need not read
# (uvicorn's "Started server process", Alembic's dialect): below DEBUG they log warnings only.
LIBRARIES = ("uvicorn", "uvicorn.error", "uvicorn.access", "uvicorn.asgi", "alembic")
# The attributes every LogRecord has; any other attribute came from ``extra=``.
_STANDARD = frozenset(logging.makeLogRecord({}).__dict__) | {"message", "asctime", "taskName"}
_FIRST_EXTRA = len(logging.makeLogRecord({}).__dict__)
# Fields the formatter writes itself: an ``extra=`` of the same name is left out.
_OWN = frozenset({"time", "level", "logger", "message", "request_id", "pid", "exc_info", "stack_info"})
# uvicorn's copy of a message with terminal colour codes: the message says the same.
_SKIP = _STANDARD | _OWN | {"color_message"}


def level_of(name: str) -> int:
    """The level a log_level setting names (ValueError naming the choices if none)."""
    try:
        return LEVELS[name.strip().lower()]
    except KeyError:
        raise ValueError(f"log_level must be one of {', '.join(LEVELS)}, got {name!r}") from None


# A str as a JSON string, in ASCII: json's own C encoder, without json.dumps's Python layers.
json_str: Callable[[str], str] = encode_basestring_ascii


def _json_value(value: Any) -> str:
    kind = type(value)
    if kind is str:
        return json_str(value)
    if kind is int:
        return str(value)
    if kind is float:
        return repr(value) if math.isfinite(value) else f'"{value}"'
    return json.dumps(value, default=str, separators=(",", ":"))


def _member(key: str) -> str:
    """``,"key":`` for an ``extra=`` field, made once per name."""
    member = _MEMBERS.get(key)
    if member is None:
        member = _MEMBERS[key] = f",{json_str(key)}:"
    return member


_MEMBERS: dict[str, str] = {}


class JsonFormatter(logging.Formatter):
    """One JSON object per record, built as a string (no dict of the record is encoded)."""

    def __init__(self) -> None:
        super().__init__()
        self._second: tuple[int, str] = (-1, "")  # the last whole second and its text
        self._heads: dict[tuple[str, int], str] = {}  # (logger, level) -> their JSON members

    def format(self, record: logging.LogRecord) -> str:
        created = record.created
        second = int(created)
        cached = self._second
        if cached[0] != second:
            cached = (second, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second)))
            self._second = cached  # one tuple: threads never see a second with another's text
        head = self._heads.get((record.name, record.levelno))
        if head is None:
            level = _NAMES.get(record.levelno) or record.levelname.lower()
            head = self._heads[(record.name, record.levelno)] = (
                f'"level":"{level}","logger":{json_str(record.name)}'
            )
        fields = record.__dict__
        request_id = fields.get("request_id")
        parts = [
            f'{{"time":"{cached[1]}.{int((created - second) * 1000):03d}Z",{head},"message":',
            json_str(record.getMessage()),
            f',"pid":{os.getpid()}'
            if request_id is None
            else f',"request_id":{json_str(str(request_id))},"pid":{os.getpid()}',
        ]
        # extra= fields follow the attributes every record has (makeRecord adds them last).
        for key, value in islice(fields.items(), _FIRST_EXTRA, None):
            if key in _SKIP:
                continue
            member = _MEMBERS.get(key) or _member(key)
            kind = type(value)
            if kind is str:
                parts.append(member + json_str(value))
            elif kind is int:
                parts.append(f"{member}{value}")
            else:
                parts.append(member + _json_value(value))
        if record.exc_info or record.exc_text:
            text = record.exc_text or self.formatException(record.exc_info)  # type: ignore[arg-type]
            parts.append(f',"exc_info":{json.dumps(text)}')
        if record.stack_info:
            parts.append(f',"stack_info":{json.dumps(self.formatStack(record.stack_info))}')
        parts.append("}")
        return "".join(parts)


class LineHandler(logging.Handler):
    """Each record as one line, written at once with one ``write(2)`` (module docstring)."""

    def __init__(self, stream: TextIO | None = None) -> None:
        super().__init__()
        self.stream = stream if stream is not None else sys.stderr

    def emit(self, record: logging.LogRecord) -> None:
        try:
            line = self.format(record) + "\n"
        except Exception:  # noqa: BLE001 - logging must never raise into the caller
            self.handleError(record)
            return
        try:
            try:
                # Asked each time: a closed stream's descriptor number may belong to another file.
                fd = self.stream.fileno()
            except (AttributeError, OSError):
                self.stream.write(line)  # not a file (a test's StringIO)
                self.stream.flush()
                return
            data = line.encode("utf-8", "backslashreplace")
            while data:  # Handler.handle holds the lock: lines of two threads never interleave
                data = data[os.write(fd, data) :]
        except (OSError, ValueError):
            pass  # a closed or broken stream: nothing else to write to


def dict_config(level: int = logging.INFO) -> dict[str, Any]:
    """The logging set-up as a :func:`logging.config.dictConfig` dictionary (uvicorn's
    ``log_config``): the root logger writes JSON lines, the libraries' loggers propagate to
    it with no handler of their own, and no logger that exists is disabled."""
    library = level if level <= logging.DEBUG else max(level, logging.WARNING)
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": JsonFormatter}},
        "handlers": {"line": {"()": LineHandler, "formatter": "json"}},
        "root": {"handlers": ["line"], "level": level},
        "loggers": {name: {"handlers": [], "propagate": True, "level": library} for name in LIBRARIES},
    }


def configure(level: int = logging.INFO, stream: TextIO | None = None) -> None:
    """Send every record of the process to stderr (or ``stream``) as a JSON line
    (:func:`dict_config`).

    Python's warnings and exceptions nothing caught (in any thread) are logged too, rather than
    printed as plain text. Records need not look up the caller's frame, thread or process name,
    which the format does not show (the logging HOWTO's "Optimization" settings): that halves
    their cost.
    """
    config = dict_config(level)
    if stream is not None:
        config["handlers"]["line"]["stream"] = stream
    logging.config.dictConfig(config)
    logging.captureWarnings(True)
    sys.excepthook = _log_uncaught
    threading.excepthook = _log_uncaught_in_thread
    logging._srcfile = None
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False


def _log_uncaught(kind: type[BaseException], value: BaseException, tb: TracebackType | None) -> None:
    if issubclass(kind, KeyboardInterrupt):
        sys.__excepthook__(kind, value, tb)
        return
    logging.getLogger("openkms").critical("uncaught exception", exc_info=(kind, value, tb))


def _log_uncaught_in_thread(args: threading.ExceptHookArgs) -> None:
    if args.exc_type is SystemExit:
        return  # what threading's own hook ignores too
    name = args.thread.name if args.thread is not None else "?"
    logging.getLogger("openkms").critical(
        "uncaught exception in thread %s",
        name,
        exc_info=(args.exc_type, args.exc_value or args.exc_type(), args.exc_traceback),
    )
