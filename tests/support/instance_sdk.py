"""The official instance SDKs, run from their own virtual environment (see
tests/instance-sdk-requirements.txt and tests/support/instance_sdk_driver.py)."""

from __future__ import annotations

import fcntl
import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).parents[2]
VENV = ROOT / ".venv-sdk"
REQUIREMENTS = ROOT / "tests" / "instance-sdk-requirements.txt"
DRIVER = Path(__file__).with_name("instance_sdk_driver.py")


def python() -> Path:
    """The SDK environment's interpreter, made on first use from the pinned requirements."""
    exe = VENV / "bin" / "python"
    stamp = VENV / ".installed"
    if stamp.exists() and stamp.read_text() == REQUIREMENTS.read_text():
        return exe
    # `make test` makes it first; a run without make builds it once, whichever worker comes first.
    ROOT.joinpath(".venv-sdk.lock").touch()
    with open(ROOT / ".venv-sdk.lock") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        _build(exe, stamp)
    return exe


def _build(exe: Path, stamp: Path) -> None:
    if not stamp.exists() or stamp.read_text() != REQUIREMENTS.read_text():
        if not exe.exists():
            subprocess.run([_base_python(), "-m", "venv", str(VENV)], check=True)
        subprocess.run([str(exe), "-m", "pip", "install", "-q", "-r", str(REQUIREMENTS)], check=True, timeout=600)
        stamp.write_text(REQUIREMENTS.read_text())


def _base_python() -> str:
    """The interpreter this test environment was made from (its pyvenv.cfg ``home``)."""
    cfg = Path(sys.prefix) / "pyvenv.cfg"
    for line in cfg.read_text().splitlines() if cfg.exists() else []:
        name, _, value = line.partition("=")
        if name.strip() == "home":
            return str(Path(value.strip()) / "python3")
    return sys.executable


@dataclass(frozen=True)
class Gateway:
    """Where the SDKs reach an instance: its host name, the gateway port, the CA, a client key."""

    host: str
    port: int
    ca: Path
    client_key_file: Path
    password: str

    def run(self, calls: list[dict[str, Any]]) -> list[Any]:
        spec = {
            "host": self.host,
            "port": self.port,
            "ca": str(self.ca),
            "client_key_file": str(self.client_key_file),
            "password": self.password,
            "calls": calls,
        }
        done = subprocess.run(
            [str(python()), str(DRIVER)], input=json.dumps(spec), capture_output=True, text=True, timeout=120
        )
        if done.returncode != 0:
            raise RuntimeError(f"the SDK driver failed: {done.stderr[-3000:]}")
        return json.loads(done.stdout)  # type: ignore[no-any-return]

    def presign(self, action: str, requests: list[dict[str, Any]], date: str | None = None) -> list[Any]:
        """``requests`` built and signed by the instance SDK, not sent: [{"headers", "body"}]."""
        spec = {
            "host": self.host, "port": self.port, "ca": str(self.ca),
            "client_key_file": str(self.client_key_file), "password": self.password,
            "presign": {"action": action, "requests": requests, "date": date},
        }  # fmt: skip
        done = subprocess.run(
            [str(python()), str(DRIVER)], input=json.dumps(spec), capture_output=True, text=True, timeout=300
        )
        if done.returncode != 0:
            raise RuntimeError(f"the SDK driver failed: {done.stderr[-3000:]}")
        return [{"headers": r["headers"], "body": raw(r["body"])} for r in json.loads(done.stdout)]

    def call(self, client: str, action: str, request: dict[str, Any] | None = None, **extra: Any) -> Any:
        return self.run([{"client": client, "action": action, "request": request or {}, **extra}])[0]


def b64(data: bytes) -> dict[str, str]:
    import base64

    return {"b64": base64.b64encode(data).decode()}


def raw(value: dict[str, str]) -> bytes:
    import base64

    return base64.b64decode(value["b64"])
