"""PageNumber and PageSize of the paged List* actions (alibaba-kms-api.md §9.12 and §12).

PageNumber is 1 or more, 1 by default, up to the largest Alibaba ``Integer`` (the SDKs' 32-bit
int). PageSize's range and default are each action's own, as its section documents them: most
take 1-100, ListAliases 0-100, ListAliasesByKeyId and ListKeyVersions 0-101. Where 0 is in the
range it means the action's default size, as an absent PageSize does (§9.12's recommendation,
and what a backend that reads an unset integer as 0 answers); the response echoes the size used.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from openkms.api.spec import Param

MAX_INTEGER = 2**31 - 1
PAGE_NUMBER = Param("PageNumber", kind=int, default=1, min=1, max=MAX_INTEGER)


@dataclass(frozen=True)
class PageSize(Param):
    """A PageSize: an integer in the action's range, where 0 binds to the default."""

    kind: type = int

    def convert(self, raw: str | None) -> Any:
        value = super().convert(raw)
        return self.default if value == 0 else value


def page_size_param(default: int, lo: int = 1, hi: int = 100) -> PageSize:
    """An action's PageSize parameter: ``default`` rows unless asked, between ``lo`` and ``hi``."""
    doc = f"0 means the default, {default}." if lo == 0 else ""
    return PageSize("PageSize", default=default, min=lo, max=hi, doc=doc)


def echo(page_number: int, page_size: int, total: int) -> dict[str, int]:
    """The paging members of a List* answer."""
    return {"PageNumber": page_number, "PageSize": page_size, "TotalCount": total}
