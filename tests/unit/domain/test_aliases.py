"""Alias names: alias/ + 1-255 of [A-Za-z0-9_/-], alias/acs reserved."""

from __future__ import annotations

import pytest

from openkms.domain.aliases import check_alias_name
from openkms.domain.errors import InvalidValue


@pytest.mark.parametrize("name", ["alias/a", "alias/" + "a" * 255, "alias/My_Key-1/prod", "alias/ACS-upper", "alias/ac"])
def test_good_names(name: str) -> None:
    """Names within the documented grammar are accepted (alias/ACS is not the reserved prefix)."""
    check_alias_name(name)


@pytest.mark.parametrize(
    "name",
    ["alias/", "example", "Alias/x", "alias/" + "a" * 256, "alias/sp ace", "alias/dot.ted", "alias/acs", "alias/acs-x"],
)
def test_bad_or_reserved_names(name: str) -> None:
    """Missing prefix, empty or long suffix, bad characters and alias/acs* are refused."""
    with pytest.raises(InvalidValue) as info:
        check_alias_name(name)
    assert info.value.parameter == "AliasName"
