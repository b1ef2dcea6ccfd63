"""The server's log handler: every line arrives, in order, without a write per line."""

from __future__ import annotations

import io
import logging
import time

from openkms.logs import BatchingStreamHandler, MessageFormatter


def test_batched_lines_arrive_in_order_within_the_flush_interval() -> None:
    """Lines logged are written in order, one per record, shortly after (no explicit flush)."""
    stream = io.StringIO()
    handler = BatchingStreamHandler(stream)
    logger = logging.getLogger("openkms.test.batching")
    logger.propagate = False
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        for i in range(100):
            logger.info("line %d", i)
        deadline = time.monotonic() + 5
        while stream.getvalue().count("\n") < 100 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert [f"line {i}" for i in range(100)] == stream.getvalue().splitlines()
    finally:
        logger.removeHandler(handler)
        handler.close()


def test_close_flushes_what_is_buffered() -> None:
    """Closing the handler (an orderly exit) writes every buffered line."""
    stream = io.StringIO()
    handler = BatchingStreamHandler(stream)
    handler.emit(logging.makeLogRecord({"msg": "last words"}))
    handler.close()
    assert stream.getvalue() == "last words\n"


def test_a_closed_handler_still_writes() -> None:
    """A handler closed while still attached (logging.config.dictConfig does that) loses no line."""
    stream = io.StringIO()
    handler = BatchingStreamHandler(stream)
    handler.close()
    handler.emit(logging.makeLogRecord({"msg": "after close"}))
    assert stream.getvalue() == "after close\n"


def test_message_formatter_keeps_tracebacks() -> None:
    """Lines are the bare message; a record with an exception still carries its traceback."""
    formatter = MessageFormatter()
    assert formatter.format(logging.makeLogRecord({"msg": "a %s", "args": ("b",)})) == "a b"
    try:
        raise ValueError("boom")
    except ValueError:
        import sys

        record = logging.makeLogRecord({"msg": "failed", "exc_info": sys.exc_info()})
    text = formatter.format(record)
    assert text.startswith("failed\nTraceback")
    assert "ValueError: boom" in text
