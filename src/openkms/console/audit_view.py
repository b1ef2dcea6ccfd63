"""The audit page: the account's events (of a key, a secret or a principal), filtered by time
and action, with the verification status of the chains (service/audit.py).

No API action reads the audit trail, so no policy can grant it: the page is an account root's
only, and shows that account's events only. Verifying reads every chain; it runs when asked.
"""

from __future__ import annotations

import asyncio
import re
from collections import deque
from datetime import UTC, datetime
from typing import Any

from openkms.console.page import Page, Reply
from openkms.service import audit

__all__ = ["audit_page"]

SHOWN = 200
DEFAULT_WINDOW = 24 * 3600.0
# What the page's "of" filter matches in an event's referenced resources.
_KINDS = {"key": ("ACS::KMS::Key",), "secret": ("ACS::KMS::Secret",)}


def _when(text: str) -> float | None:
    if not text:
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "")).replace(tzinfo=UTC).timestamp()
    except ValueError:
        return None


def _matches(event: dict[str, Any], kind: str, name: str, action: str) -> bool:
    if action and event.get("eventName") != action:
        return False
    if not name:
        return True
    if kind == "principal":
        who = event.get("userIdentity") or {}
        return name in (who.get("accessKeyId"), who.get("userName"), who.get("principalId"))
    refs = event.get("referencedResources") or {}
    return any(name in refs.get(t, []) for t in _KINDS.get(kind, ()))


async def audit_page(page: Page, _m: re.Match[str]) -> Reply:
    if not page.owner.is_root:
        return page.render(
            "error.html", 403, title="Not permitted",
            message="The audit trail is shown to the account's root only (no API action reads it).",
            code="Forbidden.NoPermission",
        )  # fmt: skip
    dep = page.app.gateway.dep
    kind = page.arg("of") or "key"
    name = page.arg("name").strip()
    action = page.arg("action").strip()
    since_text, until_text = page.arg("since"), page.arg("until")
    until = _when(until_text)
    since = _when(since_text)
    if since is None:
        since = (until or dep.clock.now()) - DEFAULT_WINDOW
    account = page.owner.account_uid

    def read() -> tuple[list[dict[str, Any]], int]:
        kept: deque[dict[str, Any]] = deque(maxlen=SHOWN)
        matched = 0
        for record in audit.export(dep, since=since, until=until, account_uid=account):
            if _matches(record["event"], kind, name, action):
                matched += 1
                kept.append(record)
        return list(reversed(kept)), matched

    loop = asyncio.get_running_loop()
    records, matched = await loop.run_in_executor(None, read)
    verified = None
    if page.arg("verify"):
        chains, checked, findings = await loop.run_in_executor(None, audit.verify, dep)
        verified = {"chains": chains, "checked": checked, "findings": [str(f) for f in findings[:20]]}
    return page.render(
        "audit.html", records=records, matched=matched, shown=SHOWN, kind=kind, name=name, action=action,
        since=since_text, until=until_text, verified=verified,
    )  # fmt: skip
