"""Operational logs: one JSON object per line, every field an operator filters on, written at once."""

from __future__ import annotations

import io
import json
import logging
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from openkms import logs
from openkms.logs import JsonFormatter, LineHandler

ROOT = Path(__file__).parents[2]
TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")


def _record(msg: str = "hello %s", *args: object, **extra: object) -> logging.LogRecord:
    logger = logging.getLogger("openkms.test")
    return logger.makeRecord(
        "openkms.test", logging.WARNING, __file__, 1, msg, args, None, extra=extra or None
    )


def test_a_line_has_time_level_logger_message_and_pid() -> None:
    line = JsonFormatter().format(_record("hello %s", "world"))
    event = json.loads(line)
    assert list(event) == ["time", "level", "logger", "message", "pid"]
    assert TIME.fullmatch(event["time"])
    assert (event["level"], event["logger"], event["message"], event["pid"]) == (
        "warning",
        "openkms.test",
        "hello world",
        os.getpid(),
    )


def test_time_is_utc_with_milliseconds() -> None:
    record = _record()
    record.created = 1_800_000_000.25  # 2027-01-15T08:00:00.250Z
    assert json.loads(JsonFormatter().format(record))["time"] == "2027-01-15T08:00:00.250Z"
    record.created = 1_800_000_001.999
    assert json.loads(JsonFormatter().format(record))["time"] == "2027-01-15T08:00:01.999Z"


def test_request_id_and_extras_are_fields_in_order() -> None:
    record = _record(
        "request",
        request_id="R-1",
        action="Encrypt",
        status=200,
        latency_ms=0.125,
        ok=True,
        nothing=None,
        tags={"a": [1, 2]},
    )
    event = json.loads(JsonFormatter().format(record))
    assert list(event) == [
        "time", "level", "logger", "message", "request_id", "pid", "action", "status", "latency_ms", "ok",
        "nothing", "tags",
    ]  # fmt: skip
    assert (event["request_id"], event["action"], event["status"], event["latency_ms"]) == (
        "R-1",
        "Encrypt",
        200,
        0.125,
    )
    assert (event["ok"], event["nothing"], event["tags"]) == (True, None, {"a": [1, 2]})


def test_extras_cannot_forge_the_formatters_own_fields() -> None:
    """An ``extra=`` named like a field the formatter writes (or uvicorn's coloured copy of the
    message) is left out: one key each, no duplicate for a parser to pick from."""
    line = JsonFormatter().format(
        _record("x", time="forged", level="forged", pid=1, color_message="\x1b[36m")
    )
    pairs = json.loads(line, object_pairs_hook=list)
    names = [name for name, _ in pairs]
    assert len(names) == len(set(names)) and "color_message" not in names
    assert dict(pairs)["level"] == "warning" and dict(pairs)["pid"] == os.getpid()


def test_awkward_text_stays_one_line_of_json() -> None:
    """Quotes, backslashes, newlines, control and non-ASCII characters in the message, the
    logger name and the values are escaped: the line is one line and parses back to them."""
    text = 'a "quoted"\\ line\nnext\r\t\x00\x1b é 漢 \U0001f511'
    record = _record("%s", text, action=text)
    record.name = 'odd"name\n'
    line = JsonFormatter().format(record)
    assert "\n" not in line and line.isascii()
    event = json.loads(line)
    assert (event["message"], event["action"], event["logger"]) == (text, text, 'odd"name\n')


def test_non_finite_numbers_stay_valid_json() -> None:
    line = JsonFormatter().format(_record("x", a=float("nan"), b=float("inf")))
    event = json.loads(line, parse_constant=lambda name: pytest.fail(f"bare {name} in {line}"))
    assert (event["a"], event["b"]) == ("nan", "inf")


def test_a_traceback_is_one_string_field() -> None:
    try:
        raise ValueError("boom")
    except ValueError:
        record = logging.getLogger("openkms.test").makeRecord(
            "openkms.test", logging.ERROR, __file__, 1, "failed", (), sys.exc_info()
        )
    line = JsonFormatter().format(record)
    assert "\n" not in line
    event = json.loads(line)
    assert event["message"] == "failed"
    assert event["exc_info"].startswith("Traceback (most recent call last):")
    assert "ValueError: boom" in event["exc_info"]


def test_handler_writes_each_line_before_the_call_returns() -> None:
    """No buffer in the process: the line is in the pipe when ``emit`` returns."""
    read, write = os.pipe()
    try:
        with os.fdopen(write, "w", closefd=False) as stream:
            handler = LineHandler(stream)
            handler.setFormatter(JsonFormatter())
            for i in range(3):
                handler.handle(_record("line %d", i))
                os.set_blocking(read, False)
                line = os.read(read, 1 << 16).decode()
                assert line.endswith("\n") and line.count("\n") == 1
                assert json.loads(line)["message"] == f"line {i}"
    finally:
        os.close(read)
        os.close(write)


def test_handler_over_a_stream_without_a_descriptor() -> None:
    stream = io.StringIO()
    handler = LineHandler(stream)
    handler.setFormatter(JsonFormatter())
    handler.handle(_record("a"))
    handler.handle(_record("b"))
    assert [json.loads(line)["message"] for line in stream.getvalue().splitlines()] == ["a", "b"]


def _python(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
        env={**os.environ, "PYTHONPATH": str(ROOT / "src")},
    )  # fmt: skip


def test_kill_9_loses_no_line_logged_before_it() -> None:
    """Lines logged just before the process is killed outright are on stderr."""
    done = _python(
        "import logging, os, signal\n"
        "from openkms import logs\n"
        "logs.configure()\n"
        "for i in range(200):\n"
        "    logging.getLogger('openkms.request').info('answered %d', i)\n"
        "os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    assert done.returncode == -9
    lines = done.stderr.splitlines()
    assert [json.loads(line)["message"] for line in lines] == [f"answered {i}" for i in range(200)]


def test_the_level_filters_and_libraries_say_warnings_only() -> None:
    """At ``warning`` an INFO line is left out; at ``info`` the libraries' INFO lines (uvicorn,
    Alembic) still are, at ``debug`` they are in. Every line on stderr is JSON."""
    code = (
        "import logging, sys\n"
        "from openkms import logs\n"
        "logs.configure(logs.level_of(sys.argv[1]))\n"
        "for name in ('openkms.request', 'uvicorn.error', 'alembic.runtime.migration'):\n"
        "    for level in (logging.DEBUG, logging.INFO, logging.WARNING, logging.ERROR):\n"
        "        logging.getLogger(name).log(level, 'x')\n"
    )
    seen = {}
    for setting in ("debug", "info", "warning", "error"):
        done = subprocess.run(
            [sys.executable, "-c", code, setting], capture_output=True, text=True, timeout=60,
            env={**os.environ, "PYTHONPATH": str(ROOT / "src")},
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        seen[setting] = [
            (e["logger"].split(".")[0], e["level"]) for e in map(json.loads, done.stderr.splitlines())
        ]
    every = ["debug", "info", "warning", "error"]
    assert seen["debug"] == [(name, level) for name in ("openkms", "uvicorn", "alembic") for level in every]
    assert seen["info"] == [("openkms", "info"), ("openkms", "warning"), ("openkms", "error")] + [
        (name, level) for name in ("uvicorn", "alembic") for level in ("warning", "error")
    ]
    assert seen["warning"] == [
        (name, level) for name in ("openkms", "uvicorn", "alembic") for level in every[2:]
    ]
    assert seen["error"] == [("openkms", "error"), ("uvicorn", "error"), ("alembic", "error")]


def test_level_names() -> None:
    assert logs.level_of("debug") == logging.DEBUG
    assert logs.level_of(" WARNING ") == logging.WARNING
    with pytest.raises(ValueError, match="debug, info, warning, error"):
        logs.level_of("verbose")


def test_warnings_and_uncaught_exceptions_are_json_lines() -> None:
    """A Python warning, an exception no thread caught and one the main thread did not catch
    are logged lines too, their tracebacks as fields: nothing plain reaches stderr."""
    done = _python(
        "import threading, warnings\n"
        "from openkms import logs\n"
        "logs.configure()\n"
        "warnings.warn('careful')\n"
        "def fail():\n"
        "    raise ValueError('in a thread')\n"
        "t = threading.Thread(target=fail, name='worker-1')\n"
        "t.start(); t.join()\n"
        "raise RuntimeError('at the top')\n"
    )
    assert done.returncode == 1
    events = [json.loads(line) for line in done.stderr.splitlines()]
    assert [(e["logger"], e["level"]) for e in events] == [
        ("py.warnings", "warning"), ("openkms", "critical"), ("openkms", "critical")
    ]  # fmt: skip
    assert "careful" in events[0]["message"]
    assert events[1]["message"] == "uncaught exception in thread worker-1"
    assert "ValueError: in a thread" in events[1]["exc_info"]
    assert "RuntimeError: at the top" in events[2]["exc_info"]
