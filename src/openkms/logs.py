"""Logging set-up of a server process: one line per record on stderr, written off the hot path.

The request log writes a line for every request. Written the standard way (a StreamHandler:
format, write, flush under a lock) each line costs a write(2) on the event loop, and a write to
a busy disk can block it for milliseconds. :class:`BatchingStreamHandler` instead appends the
formatted line to a buffer, and a daemon thread writes the buffer every
:data:`FLUSH_SECONDS` (at once when it grows past :data:`FLUSH_BYTES`), so many lines share one
write and the event loop never waits on the disk. A line reaches the stream within
``FLUSH_SECONDS``; what is buffered when the process is killed outright (``kill -9``) is lost,
everything is flushed on an orderly exit. Must not import from the rest of openkms.
"""

from __future__ import annotations

import atexit
import logging
import sys
import threading
from typing import TextIO

FLUSH_SECONDS = 0.05
FLUSH_BYTES = 64 * 1024


class BatchingStreamHandler(logging.Handler):
    """A StreamHandler whose writes happen in batches on a background thread."""

    def __init__(self, stream: TextIO | None = None) -> None:
        super().__init__()
        self.stream = stream if stream is not None else sys.stderr
        self._lines: list[str] = []
        self._size = 0
        self._wake = threading.Event()
        self._closed = False
        self._writer = threading.Thread(target=self._run, name="openkms-log-writer", daemon=True)
        self._writer.start()
        atexit.register(self.flush)

    def emit(self, record: logging.LogRecord) -> None:
        try:
            line = self.format(record)
        except Exception:  # noqa: BLE001 - logging must never raise into the caller
            self.handleError(record)
            return
        with self.lock:  # type: ignore[union-attr]
            self._lines.append(line)
            self._size += len(line)
            big = self._size > FLUSH_BYTES
        if self._closed:
            # Closed (logging.config.dictConfig closes every handler it finds, and uvicorn
            # calls it) but still attached: write at once rather than lose the line.
            self.flush()
        elif big:
            self._wake.set()

    def flush(self) -> None:
        with self.lock:  # type: ignore[union-attr]
            lines, self._lines, self._size = self._lines, [], 0
        if lines:
            try:
                self.stream.write("\n".join(lines) + "\n")
                self.stream.flush()
            except (OSError, ValueError):
                pass  # a closed or broken stream: nothing else to write to

    def _run(self) -> None:
        while not self._closed:
            self._wake.wait(FLUSH_SECONDS)
            self._wake.clear()
            self.flush()

    def close(self) -> None:
        self._closed = True
        self._wake.set()
        self.flush()
        super().close()


class MessageFormatter(logging.Formatter):
    """``%(message)s``, without the general formatter's work when there is nothing else to add."""

    def __init__(self) -> None:
        super().__init__("%(message)s")

    def format(self, record: logging.LogRecord) -> str:
        if record.exc_info or record.exc_text or record.stack_info:
            return super().format(record)
        return record.getMessage()


def configure(level: int = logging.INFO) -> None:
    """Send every record of the process to stderr as its bare message, in batches.

    The format is the message alone, so records need not look up the caller's frame, thread
    or process (the logging HOWTO's "Optimization" settings), which halves their cost.
    """
    root = logging.getLogger()
    for old in [h for h in root.handlers if isinstance(h, BatchingStreamHandler) and h._closed]:
        root.removeHandler(old)
    if not any(isinstance(h, BatchingStreamHandler) for h in root.handlers):
        handler = BatchingStreamHandler()
        handler.setFormatter(MessageFormatter())
        root.addHandler(handler)
    root.setLevel(level)
    logging._srcfile = None
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
