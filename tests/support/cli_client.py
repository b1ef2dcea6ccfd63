"""Running the client commands (`openkms call`, `openkms envelope`) as a user would: a child
process whose environment holds only what the test gives it (no ALIBABA_CLOUD_* of the caller,
HOME pointed at a directory of the test's)."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

from tests.support.server import ACCESS_KEY_ID, ACCESS_KEY_SECRET, CLI, ServerProcess

ROOT_ENV = {"ALIBABA_CLOUD_ACCESS_KEY_ID": ACCESS_KEY_ID, "ALIBABA_CLOUD_ACCESS_KEY_SECRET": ACCESS_KEY_SECRET}


def client_env(home: Path, **extra: str) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("ALIBABA_CLOUD_")}
    return {**base, "HOME": str(home), "PYTHONPATH": str(Path(__file__).parents[2]), **extra}


def openkms(
    server: ServerProcess, home: Path, *args: str, env: dict[str, str] | None = None, input: bytes | None = None,
) -> subprocess.CompletedProcess[bytes]:
    """`openkms COMMAND --endpoint http://SERVER REST` (COMMAND is `call` or `envelope VERB`:
    a later ``--endpoint`` in REST wins) with the root pair in the environment unless ``env``
    says otherwise."""
    environment = client_env(home, **(ROOT_ENV if env is None else env))
    words = 2 if args[0] == "envelope" else 1
    return subprocess.run(
        [*CLI, *args[:words], "--endpoint", f"http://{server.endpoint}", *args[words:]],
        env=environment, capture_output=True, input=input, timeout=120,
    )


def call(server: ServerProcess, home: Path, action: str, *params: str, **kw: Any) -> dict[str, Any]:
    """`openkms call ACTION PARAMS` that must succeed; its JSON answer."""
    done = openkms(server, home, "call", action, *params, **kw)
    assert done.returncode == 0, done.stderr.decode()
    return json.loads(done.stdout)  # type: ignore[no-any-return]
