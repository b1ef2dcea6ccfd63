"""Parameters of the RAM actions: RAM names each bad value's fault in the code
(``InvalidParameter.UserName.Length``, ``.InvalidChars``, ``.Format``, ``InvalidParameter.PolicyType``),
so a RAM parameter checks what a :class:`~openkms.api.spec.Param` checks and answers as RAM does.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from openkms.api.spec import MAX_PARAM_LEN, Param
from openkms.domain import ram
from openkms.wire import errors


def _fault(name: str, fault: str, message: str) -> errors.KMSError:
    return errors.ram_error(
        f"InvalidParameter.{name}.{fault}" if fault else f"InvalidParameter.{name}", message
    )


@dataclass(frozen=True)
class RamParam(Param):
    """A RAM parameter. Bad values are 400 ``InvalidParameter.<Name>.<Fault>``: ``Length``
    (outside ``min``/``max``), ``InvalidChars`` (not ``pattern``, or a NUL), ``Format`` (not an
    integer or boolean), ``Range`` (an integer outside its bounds); a value outside ``enum`` is
    ``InvalidParameter.<Name>``. A missing required one is ``MissingParameter``."""

    def convert(self, raw: str | None) -> Any:
        if raw is None or (raw == "" and not self.allow_empty):
            if self.required:
                raise errors.MissingParameter(self.name)
            return self.default
        name = self.name
        if "\x00" in raw:
            raise _fault(name, "InvalidChars", f'The parameter - "{name}" contains invalid chars.')
        if len(raw) > max(MAX_PARAM_LEN, self.max or 0):
            raise _fault(name, "Length", f'The parameter - "{name}" beyond the length limit.')
        if self.kind is bool:
            if raw.lower() not in ("true", "false"):
                raise _fault(name, "Format", f'The format of the parameter - "{name}" is incorrect.')
            return raw.lower() == "true"
        if self.kind is int:
            if not re.fullmatch(r"-?[0-9]{1,18}", raw):
                raise _fault(name, "Format", f'The format of the parameter - "{name}" is incorrect.')
            value = int(raw)
            if (self.min is not None and value < self.min) or (self.max is not None and value > self.max):
                raise _fault(
                    name,
                    "Range",
                    f'The parameter - "{name}" MUST be in the range of {self.min} and {self.max}.',
                )
            return value
        if self.enum is not None and raw not in self.enum:
            raise _fault(
                name, "", f'The parameter - "{name}" is incorrect. Valid values: {", ".join(self.enum)}.'
            )
        if (self.min is not None and len(raw) < self.min) or (self.max is not None and len(raw) > self.max):
            raise _fault(name, "Length", f'The parameter - "{name}" beyond the length limit.')
        if self.pattern is not None and not re.fullmatch(self.pattern, raw):
            raise _fault(name, "InvalidChars", f'The parameter - "{name}" contains invalid chars.')
        return raw


def name_param(
    name: str, rule: tuple[re.Pattern[str], int], *, required: bool = True, doc: str = ""
) -> RamParam:
    """A user, group, role or policy name parameter checked by ``rule`` (domain.ram)."""
    pattern, longest = rule
    return RamParam(name, required=required, min=1, max=longest, pattern=pattern.pattern, doc=doc)


USER_NAME = name_param("UserName", ram.USER_NAME)
GROUP_NAME = name_param("GroupName", ram.GROUP_NAME)
ROLE_NAME = name_param("RoleName", ram.ROLE_NAME)
POLICY_NAME = name_param("PolicyName", ram.POLICY_NAME)
POLICY_TYPE = RamParam("PolicyType", required=True, enum=ram.POLICY_TYPES)
MARKER = RamParam("Marker", max=1024, doc="The Marker of the previous page's answer.")
MAX_ITEMS = RamParam("MaxItems", kind=int, default=100, min=1, max=1000)
