"""The instance gateway: the endpoint the official instance SDKs call with a client key
(docs/instances.md, "The instance gateway")."""

from __future__ import annotations

__all__ = ["actions", "app", "listener", "messages", "signing"]
