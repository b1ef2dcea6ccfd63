"""The HTTP protocol's transport: one send per answer, nothing held back past its response."""

from __future__ import annotations

from typing import Any

from openkms.http import _HeadHoldingTransport

HEAD = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 2\r\n\r\n"


class _Recorder:
    def __init__(self) -> None:
        self.writes: list[bytes] = []
        self.closed = False

    def write(self, data: bytes) -> None:
        self.writes.append(data)

    def close(self) -> None:
        self.closed = True

    def get_extra_info(self, name: str) -> Any:
        return f"info:{name}"


def test_head_and_body_go_out_in_one_write() -> None:
    """A response head is joined to the body written after it."""
    rec = _Recorder()
    t = _HeadHoldingTransport(rec)  # type: ignore[arg-type]
    t.write(HEAD)
    assert rec.writes == []
    t.write(b"{}")
    assert rec.writes == [HEAD + b"{}"]


def test_a_head_without_body_goes_out_when_flushed_or_closed() -> None:
    """The answer to HEAD (no body write) is sent at the response's end, and before a close."""
    rec = _Recorder()
    t = _HeadHoldingTransport(rec)  # type: ignore[arg-type]
    t.write(HEAD)
    t.flush()
    t.flush()
    t.write(HEAD)
    t.close()
    assert (rec.writes, rec.closed) == ([HEAD, HEAD], True)


def test_interim_and_whole_responses_are_not_held() -> None:
    """"100 Continue" and a response written whole in one call go out at once; the rest of the
    transport is the wrapped one."""
    rec = _Recorder()
    t = _HeadHoldingTransport(rec)  # type: ignore[arg-type]
    t.write(b"HTTP/1.1 100 Continue\r\n\r\n")
    t.write(b"HTTP/1.1 400 Bad Request\r\ncontent-length: 3\r\n\r\nbad")
    assert rec.writes == [b"HTTP/1.1 100 Continue\r\n\r\n", b"HTTP/1.1 400 Bad Request\r\ncontent-length: 3\r\n\r\nbad"]
    assert t.get_extra_info("peername") == "info:peername"
