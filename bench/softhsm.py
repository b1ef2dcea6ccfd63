"""A SoftHSM2 token for one benchmark run (``bench/run.py --root-provider pkcs11``): a config
naming a token directory of its own, one initialised token, and the flags and environment that
point ``openkms init``/``serve`` at it (the PIN only in the environment)."""

from __future__ import annotations

import os
import secrets
import subprocess
from dataclasses import dataclass
from pathlib import Path

MODULE = "/usr/lib/softhsm/libsofthsm2.so"


@dataclass(frozen=True)
class BenchToken:
    flags: list[str]
    env: dict[str, str]


def make_token(directory: Path) -> BenchToken:
    if not os.path.exists(MODULE):
        raise SystemExit(f"bench: SoftHSM2 is not installed ({MODULE}): apt-get install softhsm2")
    tokens = directory / "tokens"
    tokens.mkdir(parents=True)
    conf = directory / "softhsm2.conf"
    conf.write_text(f"directories.tokendir = {tokens}\nobjectstore.backend = file\nslots.removable = false\n")
    label, pin = f"bench-{secrets.token_hex(4)}", secrets.token_hex(8)
    env = {"SOFTHSM2_CONF": str(conf), "OPENKMS_PKCS11_PIN": pin}
    subprocess.run(["softhsm2-util", "--init-token", "--free", "--label", label, "--pin", pin,
                    "--so-pin", secrets.token_hex(8)], check=True, capture_output=True, env={**os.environ, **env})
    flags = ["--root-provider", "pkcs11", "--pkcs11-module", MODULE, "--pkcs11-token-label", label]
    return BenchToken(flags, env)
