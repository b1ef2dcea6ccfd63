"""A SoftHSM2 token of its own for a test run: a config file naming a fresh token directory,
``SOFTHSM2_CONF`` pointing at it, and one initialised token (selected by label: SoftHSM2 moves
an initialised token to a slot numbered from its serial)."""

from __future__ import annotations

import os
import secrets
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

MODULE = "/usr/lib/softhsm/libsofthsm2.so"


@dataclass(frozen=True)
class Token:
    module: str
    label: str
    pin: str
    conf: Path

    def env(self) -> dict[str, str]:
        """The environment a server process needs to reach this token (PIN included)."""
        return {"SOFTHSM2_CONF": str(self.conf), "OPENKMS_PKCS11_PIN": self.pin}


def require_softhsm() -> None:
    """Skip the test where SoftHSM2 or python-pkcs11 is missing (.ci/run installs both)."""
    if not os.path.exists(MODULE):
        pytest.skip(f"SoftHSM2 is not installed ({MODULE} is absent)")
    pytest.importorskip("pkcs11")


_CONF: list[Path] = []


def shared_conf(factory: pytest.TempPathFactory) -> Path:
    """This test process's SoftHSM2 config (made on first use): the library reads SOFTHSM2_CONF
    once, when it initialises, so every token of the process lives in one token directory."""
    if not _CONF:
        _CONF.append(make_conf(factory.mktemp("softhsm")))
    return _CONF[0]


def make_conf(directory: Path) -> Path:
    """A SoftHSM2 config whose tokens live in ``directory``/tokens; sets SOFTHSM2_CONF."""
    tokens = directory / "tokens"
    tokens.mkdir(parents=True, exist_ok=True)
    conf = directory / "softhsm2.conf"
    conf.write_text(
        f"directories.tokendir = {tokens}\nobjectstore.backend = file\nslots.removable = false\n"
        "log.level = ERROR\n"
    )
    os.environ["SOFTHSM2_CONF"] = str(conf)
    return conf


def init_token(conf: Path, label: str) -> Token:
    """Initialise a token labelled ``label`` in the first free slot."""
    pin = secrets.token_hex(8)
    subprocess.run(
        [
            "softhsm2-util",
            "--init-token",
            "--free",
            "--label",
            label,
            "--so-pin",
            secrets.token_hex(8),
            "--pin",
            pin,
        ],
        check=True,
        capture_output=True,
        env={**os.environ, "SOFTHSM2_CONF": str(conf)},
    )
    return Token(MODULE, label, pin, conf)
