"""`openkms serve` turns core dumps off (RLIMIT_CORE 0, not dumpable) unless allowed (S20)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

PROBE = """
import ctypes, resource
from openkms import cli
from openkms.config import Settings
cli._no_core_dumps(Settings())
print(resource.getrlimit(resource.RLIMIT_CORE)[0], ctypes.CDLL(None).prctl(3, 0, 0, 0, 0))
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="prctl is Linux's")
@pytest.mark.parametrize(("allow", "expected_off"), [("0", True), ("1", False)])
def test_core_dumps_are_off_unless_allowed(allow: str, expected_off: bool) -> None:
    env = {**os.environ, "OPENKMS_ALLOW_CORE_DUMPS": allow}
    out = subprocess.run([sys.executable, "-c", PROBE], env=env, capture_output=True, text=True, check=True).stdout
    limit, dumpable = (int(x) for x in out.split())
    assert (limit == 0 and dumpable == 0) is expected_off
