"""Where the CLI's AccessKey comes from: flags, the environment, or a profile of Alibaba Cloud
CLI's configuration file (``~/.aliyun/config.json``).

The file is the one ``aliyun configure`` writes::

    {"current": "default",
     "profiles": [{"name": "default", "mode": "AK", "access_key_id": "...",
                   "access_key_secret": "...", "region_id": "cn-hangzhou"},
                  {"name": "temp", "mode": "StsToken", "access_key_id": "STS....",
                   "access_key_secret": "...", "sts_token": "...", "region_id": "..."}]}

Modes ``AK`` and ``StsToken`` are read; a profile of another mode (RamRoleArn, EcsRamRole,
OAuth, ...) is refused by name rather than half-used.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ENV_ID = "ALIBABA_CLOUD_ACCESS_KEY_ID"
ENV_SECRET = "ALIBABA_CLOUD_ACCESS_KEY_SECRET"  # noqa: S105 - a variable's name
ENV_TOKEN = "ALIBABA_CLOUD_SECURITY_TOKEN"  # noqa: S105 - a variable's name
ENV_PROFILE = "ALIBABA_CLOUD_PROFILE"
ENV_REGION = "ALIBABA_CLOUD_REGION_ID"
MODES = ("AK", "StsToken")


class CredentialError(Exception):
    """No usable credentials: the message says what is missing or wrong (never a secret)."""


@dataclass(frozen=True)
class Credentials:
    """An AccessKey pair, the STS token of temporary ones, and the region its source named."""

    access_key_id: str
    secret: str = field(repr=False)
    security_token: str | None = field(default=None, repr=False)
    region: str | None = None
    source: str = ""


def default_config_path(environ: Mapping[str, str]) -> Path:
    home = environ.get("HOME") or str(Path.home())
    return Path(home) / ".aliyun" / "config.json"


def load_profile(path: Path, name: str | None) -> Credentials:
    """The profile ``name`` of the file at ``path`` (its ``current`` one when None)."""
    try:
        document: Any = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CredentialError(f"no configuration file {path}") from None
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise CredentialError(f"cannot read {path}: {type(exc).__name__}") from None
    if not isinstance(document, dict) or not isinstance(document.get("profiles"), list):
        raise CredentialError(f'{path} has no "profiles" list')
    wanted = name or document.get("current") or "default"
    for profile in document["profiles"]:
        if isinstance(profile, dict) and profile.get("name") == wanted:
            return _from_profile(profile, wanted, path)
    raise CredentialError(f"{path} has no profile {wanted!r}")


def _from_profile(profile: dict[str, Any], name: str, path: Path) -> Credentials:
    mode = profile.get("mode") or "AK"
    if mode not in MODES:
        raise CredentialError(
            f"profile {name!r} has mode {mode!r}; openkms reads modes {' and '.join(MODES)}"
        )
    akid, secret = profile.get("access_key_id"), profile.get("access_key_secret")
    token = profile.get("sts_token") if mode == "StsToken" else None
    if not isinstance(akid, str) or not akid or not isinstance(secret, str) or not secret:
        raise CredentialError(f"profile {name!r} of {path} lacks access_key_id or access_key_secret")
    if mode == "StsToken" and (not isinstance(token, str) or not token):
        raise CredentialError(f"profile {name!r} of {path} has mode StsToken but no sts_token")
    region = profile.get("region_id")
    return Credentials(
        akid, secret, token, region if isinstance(region, str) and region else None, f"profile {name}"
    )


def from_environment(environ: Mapping[str, str]) -> Credentials | None:
    """The pair in ``ALIBABA_CLOUD_ACCESS_KEY_ID``/``_SECRET`` (and token), None when unset."""
    akid, secret = environ.get(ENV_ID), environ.get(ENV_SECRET)
    if not akid and not secret:
        return None
    if not akid or not secret:
        raise CredentialError(f"set both {ENV_ID} and {ENV_SECRET}, or neither")
    return Credentials(
        akid, secret, environ.get(ENV_TOKEN) or None, environ.get(ENV_REGION) or None, "environment"
    )
