"""One way to call any action through either official SDK, by Alibaba's parameter names.

``SDK.call("Encrypt", KeyId=..., EncryptionContext={...})`` returns the answer as a dict of
Alibaba names, or raises :class:`ApiError` with the code and HTTP status the SDK reported. A
dict EncryptionContext goes to the Tea SDK as a dict (it serialises it) and to the old SDK as
JSON text, as each SDK's users pass it.
"""

from __future__ import annotations

import base64
import importlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from alibabacloud_kms20160120 import models as tea_models
from alibabacloud_tea_openapi.exceptions import ClientException as TeaClientError
from alibabacloud_tea_openapi.exceptions import ServerException as TeaServerError
from aliyunsdkcore.acs_exception.exceptions import ServerException

from openkms.api.spec import snake
from tests.support.clients import OldClient, tea_client
from tests.support.server import ACCESS_KEY_ID, ACCESS_KEY_SECRET

# The Tea models' field names that are not the snake case of the parameter.
_TEA_FIELDS = {"KMProvider": "kmprovider", "DKMSInstanceId": "dkmsinstance_id"}


class ApiError(Exception):
    """A refused call: the code, HTTP status and message the SDK reported."""

    def __init__(self, code: str, status: int, message: str) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.code = code
        self.status = status
        self.message = message


@dataclass
class SDK:
    """One official SDK, ``tea`` or ``old``, pointed at ``endpoint``, signing with the test
    root AccessKey unless given another pair."""

    name: str
    endpoint: str
    ak: str = ACCESS_KEY_ID
    secret: str = ACCESS_KEY_SECRET

    def call(self, action: str, **params: Any) -> dict[str, Any]:
        params = {k: v for k, v in params.items() if v is not None}
        if self.name == "tea":
            return self._tea(action, params)
        return self._old(action, params)

    def _tea(self, action: str, params: dict[str, Any]) -> dict[str, Any]:
        client = tea_client(self.endpoint, ak=self.ak, secret=self.secret)
        model = getattr(tea_models, f"{action}Request", None)
        fields = {_TEA_FIELDS.get(k, snake(k)): v for k, v in params.items()}
        # An action without parameters (GetDefaultKmsInstance) has no request model.
        args = (model(**fields),) if model is not None else ()
        try:
            return dict(getattr(client, snake(action))(*args).body.to_map())
        except (TeaClientError, TeaServerError) as exc:
            # The Tea SDK decorates .message ("code: 400, ... request id: ..."); the body has it plain.
            message = (exc.data or {}).get("Message", exc.message)
            raise ApiError(exc.code, exc.status_code, message) from None

    def _old(self, action: str, params: dict[str, Any]) -> dict[str, Any]:
        module = importlib.import_module(f"aliyunsdkkms.request.v20160120.{action}Request")
        request = getattr(module, f"{action}Request")()
        values = {k: json.dumps(v) if isinstance(v, dict) else v for k, v in params.items()}
        try:
            return OldClient(self.endpoint, self.ak, self.secret).call(request, **values)
        except ServerException as exc:
            raise ApiError(exc.get_error_code(), exc.get_http_status(), exc.get_error_msg()) from None

    def error(self, action: str, **params: Any) -> ApiError:
        """Call an action that must fail; return its error."""
        return api_error(lambda: self.call(action, **params), action)


def api_error(call: Callable[[], object], what: str = "the call") -> ApiError:
    """Run ``call`` (made through :meth:`SDK.call`), which must fail; return its ApiError."""
    try:
        answer = call()
    except ApiError as exc:
        return exc
    raise AssertionError(f"{what} succeeded: {answer}")


def b64(data: bytes) -> str:
    """Base64 text of ``data``, as the API's binary parameters and answers carry bytes."""
    return base64.b64encode(data).decode()
