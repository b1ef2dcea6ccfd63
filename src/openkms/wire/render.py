"""Render a result dict or a :class:`KMSError` as Alibaba JSON or XML.

Success bodies are the action's fields plus ``RequestId``; lists arrive already wrapped the
Alibaba way (``{"Keys": {"Key": [...]}}``), which maps one-to-one onto XML's repeated elements.
Errors carry RequestId, HostId, Code, Message, Recommend and HttpStatus.
"""

from __future__ import annotations

from typing import Any
from xml.sax.saxutils import escape

import orjson

from openkms.wire.errors import KMSError

JSON_TYPE = b"application/json;charset=utf-8"
# The Tea SDK parses an XML error only under exactly this spelling.
XML_TYPE = b"text/xml;charset=utf-8"


def _xml_value(name: str, value: Any, out: list[str]) -> None:
    if isinstance(value, list):
        for item in value:
            _xml_value(name, item, out)
        return
    out.append(f"<{name}>")
    if isinstance(value, dict):
        for k, v in value.items():
            _xml_value(k, v, out)
    elif isinstance(value, bool):
        out.append("true" if value else "false")
    elif value is not None:
        out.append(escape(str(value)))
    out.append(f"</{name}>")


def to_xml(root: str, body: dict[str, Any]) -> bytes:
    out = ['<?xml version="1.0" encoding="UTF-8"?>']
    _xml_value(root, body, out)
    return "".join(out).encode()


def to_json(body: dict[str, Any]) -> bytes:
    """Compact UTF-8 JSON. orjson: every answer is rendered, and it is ~10x json.dumps."""
    return orjson.dumps(body)


def render_success(
    action: str, result: dict[str, Any], request_id: str, xml: bool
) -> tuple[int, bytes, bytes]:
    """Return (status, content type, body) for a successful action."""
    body = {"RequestId": request_id, **result}
    if xml:
        return 200, XML_TYPE, to_xml(f"{action}Response", body)
    return 200, JSON_TYPE, to_json(body)


def recommend_url(code: str, request_id: str) -> str:
    return f"https://api.aliyun.com/troubleshoot?q={code}&product=Kms&requestId={request_id}"


def render_error(error: KMSError, request_id: str, host_id: str, xml: bool) -> tuple[int, bytes, bytes]:
    """Return (status, content type, body) for an error answer."""
    body = {
        "RequestId": request_id,
        "HostId": host_id,
        "Code": error.code,
        "Message": error.message,
        "Recommend": recommend_url(error.code, request_id),
        "HttpStatus": error.http_status,
    }
    if error.access_denied is not None:
        # The Tea SDK hands it to the caller as the exception's access_denied_detail.
        body["AccessDeniedDetail"] = error.access_denied
    if xml:
        return error.http_status, XML_TYPE, to_xml("Error", body)
    return error.http_status, JSON_TYPE, to_json(body)
