"""Credentials for `openkms call` and `openkms envelope`: Alibaba Cloud CLI profiles (modes AK
and StsToken), the environment, flags, and the order they are tried in."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from openkms.cli_call import credentials_from
from openkms.client.credentials import CredentialError, from_environment, load_profile


def _write(tmp_path: Path, document: object) -> Path:
    path = tmp_path / "config.json"
    path.write_text(json.dumps(document))
    return path


CONFIG = {
    "current": "second",
    "profiles": [
        {"name": "default", "mode": "AK", "access_key_id": "AK1", "access_key_secret": "S1", "region_id": "cn-hangzhou",
         "output_format": "json", "language": "en"},
        {"name": "second", "mode": "AK", "access_key_id": "AK2", "access_key_secret": "S2", "region_id": ""},
        {"name": "temp", "mode": "StsToken", "access_key_id": "STS.x", "access_key_secret": "S3", "sts_token": "T3",
         "region_id": "cn-beijing"},
        {"name": "role", "mode": "RamRoleArn", "access_key_id": "AK4", "access_key_secret": "S4",
         "ram_role_arn": "acs:ram::1:role/r"},
        {"name": "notoken", "mode": "StsToken", "access_key_id": "STS.y", "access_key_secret": "S5"},
    ],
    "meta_path": "",
}


def test_profiles_by_name_and_the_current_one(tmp_path: Path) -> None:
    path = _write(tmp_path, CONFIG)
    first = load_profile(path, "default")
    assert (first.access_key_id, first.secret, first.security_token, first.region) == ("AK1", "S1", None, "cn-hangzhou")
    assert load_profile(path, None).access_key_id == "AK2"
    temp = load_profile(path, "temp")
    assert (temp.access_key_id, temp.secret, temp.security_token, temp.region) == ("STS.x", "S3", "T3", "cn-beijing")
    assert "S3" not in repr(temp) and "T3" not in repr(temp)


@pytest.mark.parametrize(
    ("name", "document", "message"),
    [
        ("role", CONFIG, "mode 'RamRoleArn'"),
        ("notoken", CONFIG, "no sts_token"),
        ("absent", CONFIG, "no profile 'absent'"),
        (None, {"current": "x"}, "no \"profiles\" list"),
        (None, ["not", "an", "object"], "no \"profiles\" list"),
        ("bare", {"profiles": [{"name": "bare", "mode": "AK"}]}, "lacks access_key_id"),
    ],
)
def test_unusable_profiles_are_refused_by_name(tmp_path: Path, name: str | None, document: object, message: str) -> None:
    with pytest.raises(CredentialError, match=message):
        load_profile(_write(tmp_path, document), name)


def test_a_missing_or_broken_file(tmp_path: Path) -> None:
    with pytest.raises(CredentialError, match="no configuration file"):
        load_profile(tmp_path / "absent.json", None)
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(CredentialError, match="cannot read"):
        load_profile(tmp_path / "bad.json", None)


def test_environment() -> None:
    assert from_environment({}) is None
    found = from_environment({"ALIBABA_CLOUD_ACCESS_KEY_ID": "A", "ALIBABA_CLOUD_ACCESS_KEY_SECRET": "S",
                              "ALIBABA_CLOUD_SECURITY_TOKEN": "T"})
    assert found is not None and (found.access_key_id, found.secret, found.security_token) == ("A", "S", "T")
    with pytest.raises(CredentialError, match="set both"):
        from_environment({"ALIBABA_CLOUD_ACCESS_KEY_ID": "A"})


def _args(**kw: object) -> argparse.Namespace:
    base: dict[str, object] = {"access_key_id": None, "profile": None, "config_path": None}
    return argparse.Namespace(**{**base, **kw})


def test_the_order_flags_profile_environment_file(tmp_path: Path) -> None:
    path = _write(tmp_path, CONFIG)
    env = {"ALIBABA_CLOUD_ACCESS_KEY_ID": "ENVID", "ALIBABA_CLOUD_ACCESS_KEY_SECRET": "ENVS", "HOME": str(tmp_path)}
    flag = credentials_from(_args(access_key_id="FLAGID", config_path=path), env)
    assert (flag.access_key_id, flag.secret) == ("FLAGID", "ENVS")  # the secret never from argv
    assert credentials_from(_args(profile="default", config_path=path), env).access_key_id == "AK1"
    assert credentials_from(_args(config_path=path), env).access_key_id == "ENVID"
    assert credentials_from(_args(config_path=path), {"HOME": str(tmp_path)}).access_key_id == "AK2"
    named = {"HOME": str(tmp_path), "ALIBABA_CLOUD_PROFILE": "temp"}
    assert credentials_from(_args(config_path=path), named).access_key_id == "STS.x"
    # The default file is ~/.aliyun/config.json.
    (tmp_path / ".aliyun").mkdir()
    _write(tmp_path / ".aliyun", CONFIG)
    assert credentials_from(_args(), {"HOME": str(tmp_path)}).access_key_id == "AK2"
    with pytest.raises(CredentialError, match="no credentials"):
        credentials_from(_args(), {"HOME": str(tmp_path / "nowhere")})


def test_a_flag_id_without_a_secret_and_no_terminal_is_refused(tmp_path: Path) -> None:
    with pytest.raises(CredentialError, match="ALIBABA_CLOUD_ACCESS_KEY_SECRET or a terminal"):
        credentials_from(_args(access_key_id="FLAGID"), {"HOME": str(tmp_path)})
