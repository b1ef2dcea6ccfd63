"""What an official SDK reports when the server refuses a call: the Alibaba error code and the
HTTP status, read from the SDK's own exception (the Tea SDK's ClientException, the old SDK's
ServerException). For calls made through tests/support/calls.py, see ``SDK.error``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from alibabacloud_tea_openapi.exceptions import ClientException
from aliyunsdkcore.acs_exception.exceptions import ServerException

from tests.support.clients import OldClient


def tea_error(call: Callable[[], object]) -> tuple[str, int]:
    """Run a Tea SDK call that must be refused; its (code, HTTP status)."""
    with pytest.raises(ClientException) as info:
        call()
    return info.value.code, info.value.status_code


def old_error(old: OldClient, request: Any, **params: Any) -> tuple[str, int]:
    """Send an old-SDK request that must be refused; its (code, HTTP status)."""
    with pytest.raises(ServerException) as info:
        old.call(request, **params)
    return info.value.get_error_code(), info.value.get_http_status()
