"""`openkms call` against a real server (issue 24): the alias and tag actions driven end to end
through V3, errors with their Alibaba code and exit 1, usage errors exit 2, credentials from the
environment, flags and Alibaba Cloud CLI profiles (AK and StsToken, the token from a session
made with `openkms call AssumeRole`), the table output, V4."""

from __future__ import annotations

import json
import os
import pty
import secrets
import subprocess
from pathlib import Path
from typing import Any

import pytest

from openkms.api import aliases
from tests.support.cli_client import call, client_env, openkms
from tests.support.server import ACCESS_KEY_ID, ACCESS_KEY_SECRET, CLI, ServerProcess


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return tmp_path


def test_every_alias_action_through_v3(server: ServerProcess, home: Path) -> None:
    """The Done-when of issue 24: every action of one area (api/aliases.py's table, so an action
    added there fails this test until it is driven too) through `openkms call`, V3-signed."""
    driven: set[str] = set()

    def run(action: str, *params: str) -> dict[str, Any]:
        driven.add(action)
        return call(server, home, action, *params)

    a = call(server, home, "CreateKey", "--Description", "cli alias a")["KeyMetadata"]["KeyId"]
    b = call(server, home, "CreateKey", "--Description", "cli alias b")["KeyMetadata"]["KeyId"]
    name = f"alias/cli-{secrets.token_hex(4)}"
    run("CreateAlias", "--AliasName", name, "--KeyId", a)
    assert call(server, home, "DescribeKey", "--KeyId", name)["KeyMetadata"]["KeyId"] == a
    listed = run("ListAliasesByKeyId", "--KeyId", a)
    assert [x["AliasName"] for x in listed["Aliases"]["Alias"]] == [name]
    run("UpdateAlias", "--AliasName", name, "--KeyId", b)
    every = run("ListAliases", "--PageSize", "100")["Aliases"]["Alias"]
    assert {(x["AliasName"], x["KeyId"]) for x in every} >= {(name, b)}
    run("DeleteAlias", "--AliasName", name)
    gone = openkms(server, home, "call", "DescribeKey", "--KeyId", name)
    assert gone.returncode == 1
    assert b"Forbidden.AliasNotFound" in gone.stderr and gone.stdout == b""
    again = openkms(server, home, "call", "DeleteAlias", "--AliasName", name)
    assert again.returncode == 1 and again.stderr.startswith(b"openkms: Forbidden.AliasNotFound: "), again.stderr
    assert driven == {spec.name for spec in aliases.ACTIONS}


def test_tags_json_and_repeat_list_parameters(server: ServerProcess, home: Path) -> None:
    key = call(server, home, "CreateKey")["KeyMetadata"]["KeyId"]
    call(server, home, "TagResource", "--KeyId", key, "--Tags", '[{"TagKey":"team","TagValue":"blue sky"}]')
    call(server, home, "TagResources", "--ResourceType", "key", "--ResourceId.1", key,
         "--Tag.1.Key", "env", "--Tag.1.Value", "prod", "--Tag.2.Key", "cost", "--Tag.2.Value", "a+b/c=d")
    tags = call(server, home, "ListResourceTags", "--KeyId", key)["Tags"]["Tag"]
    assert {(t["TagKey"], t["TagValue"]) for t in tags} == {("team", "blue sky"), ("env", "prod"), ("cost", "a+b/c=d")}
    call(server, home, "UntagResources", "--ResourceType", "key", "--ResourceId.1", key, "--TagKey.1", "env")
    tags = call(server, home, "ListResourceTags", "--KeyId", key)["Tags"]["Tag"]
    assert {t["TagKey"] for t in tags} == {"team", "cost"}


def test_encryption_context_as_json_text(server: ServerProcess, home: Path) -> None:
    key = call(server, home, "CreateKey")["KeyMetadata"]["KeyId"]
    context = '{"purpose": "cli test", "n": "1"}'
    blob = call(server, home, "Encrypt", "--KeyId", key, "--Plaintext", "aGVsbG8=",
                "--EncryptionContext", context)["CiphertextBlob"]
    assert call(server, home, "Decrypt", "--CiphertextBlob", blob, "--EncryptionContext", context)["Plaintext"] == "aGVsbG8="
    wrong = openkms(server, home, "call", "Decrypt", "--CiphertextBlob", blob, "--EncryptionContext", '{"purpose":"other"}')
    assert wrong.returncode == 1 and b"openkms: InvalidParameter: " in wrong.stderr, wrong.stderr
    assert b"CiphertextBlob" in wrong.stderr


def test_table_output(server: ServerProcess, home: Path) -> None:
    key = call(server, home, "CreateKey")["KeyMetadata"]["KeyId"]
    name = f"alias/tbl-{secrets.token_hex(4)}"
    call(server, home, "CreateAlias", "--AliasName", name, "--KeyId", key)
    done = openkms(server, home, "call", "--output", "table", "ListAliasesByKeyId", "--KeyId", key)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.decode().splitlines()
    assert lines[0].split() == ["FIELD", "VALUE"]
    assert "Aliases (1)" in lines
    header = lines[lines.index("Aliases (1)") + 1].split()
    row = lines[lines.index("Aliases (1)") + 3].split()
    assert dict(zip(header, row, strict=True))["AliasName"] == name
    after = openkms(server, home, "call", "ListAliasesByKeyId", "--KeyId", key, "--output=table")
    assert after.stdout.decode().splitlines()[0].split() == ["FIELD", "VALUE"]


@pytest.mark.parametrize(
    ("args", "code"),
    [
        (["DescribeKey", "--KeyId", "no-such-key"], "Forbidden.KeyNotFound"),
        (["CreateKey", "--KeySpec", "Aliyun_AES_512"], "InvalidParameter"),
        (["CreateAlias", "--AliasName", "alias/x"], "MissingParameter"),
        (["GetUser", "--UserName", "nobody-here"], "EntityNotExist.User"),
    ],
)
def test_errors_come_back_with_their_code_and_exit_1(server: ServerProcess, home: Path, args: list[str], code: str) -> None:
    done = openkms(server, home, "call", *args)
    assert done.returncode == 1
    assert done.stderr.decode().startswith(f"openkms: {code}: "), done.stderr
    assert b"RequestId" in done.stderr and done.stdout == b""


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["NoSuchAction"], "no action 'NoSuchAction'"),
        (["DescribeKey", "--KeyID", "k"], "DescribeKey takes no parameter KeyID"),
        (["DescribeKey", "--KeyId"], "--KeyId needs a value"),
        (["DescribeKey", "stray"], "unexpected stray"),
        (["ListKeys", "--insecure"], "--insecure is allowed to a loopback address only"),
    ],
)
def test_usage_errors_exit_2(server: ServerProcess, home: Path, args: list[str], message: str) -> None:
    if "--insecure" in args:  # an https endpoint off loopback, given after the test's http one
        args = [*args, "--endpoint", "https://kms.example.com"]
    done = openkms(server, home, "call", *args)
    assert done.returncode == 2, done.stderr
    assert message in done.stderr.decode()


def test_a_wrong_secret_is_refused_by_the_server(server: ServerProcess, home: Path) -> None:
    env = {"ALIBABA_CLOUD_ACCESS_KEY_ID": ACCESS_KEY_ID, "ALIBABA_CLOUD_ACCESS_KEY_SECRET": "not-the-secret"}
    done = openkms(server, home, "call", "ListKeys", env=env)
    assert done.returncode == 1 and b"openkms: SignatureDoesNotMatch: " in done.stderr
    assert b"not-the-secret" not in done.stderr


def test_no_credentials_is_a_usage_error(server: ServerProcess, home: Path) -> None:
    done = openkms(server, home, "call", "ListKeys", env={})
    assert done.returncode == 2 and b"no credentials" in done.stderr


def test_credentials_from_a_flag_with_the_secret_from_the_environment(server: ServerProcess, home: Path) -> None:
    env = {"ALIBABA_CLOUD_ACCESS_KEY_SECRET": ACCESS_KEY_SECRET}
    assert "Keys" in call(server, home, "ListKeys", "--access-key-id", ACCESS_KEY_ID, env=env)
    # The flag beats a pair in the environment: a wrong id there changes nothing.
    env = {"ALIBABA_CLOUD_ACCESS_KEY_ID": "LTAIwrong", "ALIBABA_CLOUD_ACCESS_KEY_SECRET": ACCESS_KEY_SECRET}
    assert "Keys" in call(server, home, "ListKeys", "--access-key-id", ACCESS_KEY_ID, env=env)


def _config(home: Path, *profiles: dict[str, str], current: str = "default") -> Path:
    (home / ".aliyun").mkdir(exist_ok=True)
    path = home / ".aliyun" / "config.json"
    path.write_text(json.dumps({"current": current, "profiles": list(profiles), "meta_path": ""}))
    return path


def _ak(name: str, akid: str, secret: str) -> dict[str, str]:
    return {"name": name, "mode": "AK", "access_key_id": akid, "access_key_secret": secret, "region_id": "cn-hangzhou",
            "output_format": "json", "language": "en"}


def test_credentials_from_a_profile_file(server: ServerProcess, home: Path) -> None:
    user_akid, user_secret = server.new_access_key()
    _config(home, _ak("default", ACCESS_KEY_ID, ACCESS_KEY_SECRET), _ak("other", user_akid, "wrong-secret"))
    assert "Keys" in call(server, home, "ListKeys", env={})  # the current profile of ~/.aliyun/config.json
    bad = openkms(server, home, "call", "ListKeys", "--profile", "other", env={})
    assert bad.returncode == 1 and b"SignatureDoesNotMatch" in bad.stderr
    assert "Keys" in call(server, home, "ListKeys", env={"ALIBABA_CLOUD_PROFILE": "default"})
    elsewhere = home / "elsewhere.json"
    elsewhere.write_text(json.dumps({"current": "x", "profiles": [_ak("x", user_akid, user_secret)]}))
    assert "Keys" in call(server, home, "ListKeys", "--config-path", str(elsewhere), env={})
    missing = openkms(server, home, "call", "ListKeys", "--profile", "absent", env={})
    assert missing.returncode == 2 and b"no profile 'absent'" in missing.stderr


def test_ram_and_sts_through_call_and_an_sts_token_profile(server: ServerProcess, home: Path) -> None:
    """RAM (2015-05-01) and STS (2015-04-01) picked by action name; a session's token used from
    a StsToken profile and from the environment."""
    suffix = secrets.token_hex(4)
    user, role = f"cli-{suffix}", f"CliRole-{suffix}"
    account = call(server, home, "GetCallerIdentity")["AccountId"]
    call(server, home, "CreateUser", "--UserName", user)
    call(server, home, "AttachPolicyToUser", "--PolicyType", "System", "--PolicyName", "AliyunSTSAssumeRoleAccess",
         "--UserName", user)
    made = call(server, home, "CreateAccessKey", "--UserName", user)["AccessKey"]
    trust = {"Version": "1", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                            "Principal": {"RAM": [f"acs:ram::{account}:user/{user}"]}}]}
    arn = call(server, home, "CreateRole", "--RoleName", role, "--AssumeRolePolicyDocument", json.dumps(trust))["Role"]["Arn"]
    call(server, home, "AttachPolicyToRole", "--PolicyType", "System", "--PolicyName", "AliyunKMSFullAccess",
         "--RoleName", role)
    as_user = {"ALIBABA_CLOUD_ACCESS_KEY_ID": made["AccessKeyId"], "ALIBABA_CLOUD_ACCESS_KEY_SECRET": made["AccessKeySecret"]}
    session = call(server, home, "AssumeRole", "--RoleArn", arn, "--RoleSessionName", "cli", env=as_user)["Credentials"]
    _config(home, {"name": "default", "mode": "StsToken", "access_key_id": session["AccessKeyId"],
                   "access_key_secret": session["AccessKeySecret"], "sts_token": session["SecurityToken"],
                   "region_id": "cn-hangzhou"})
    who = call(server, home, "GetCallerIdentity", env={})
    assert who["IdentityType"] == "AssumedRoleUser" and who["Arn"].endswith(f"{role.lower()}/cli"), who
    assert "Keys" in call(server, home, "ListKeys", env={})
    as_session = {"ALIBABA_CLOUD_ACCESS_KEY_ID": session["AccessKeyId"],
                  "ALIBABA_CLOUD_ACCESS_KEY_SECRET": session["AccessKeySecret"],
                  "ALIBABA_CLOUD_SECURITY_TOKEN": session["SecurityToken"]}
    assert "Keys" in call(server, home, "ListKeys", env=as_session)
    without = {k: v for k, v in as_session.items() if k != "ALIBABA_CLOUD_SECURITY_TOKEN"}
    refused = openkms(server, home, "call", "ListKeys", env=without)
    assert refused.returncode == 1 and b"openkms: " in refused.stderr


def test_v4_signatures(server: ServerProcess, home: Path) -> None:
    assert "Keys" in call(server, home, "ListKeys", "--signature", "v4")
    assert "Keys" in call(server, home, "ListKeys", "--signature", "v4", "--region", "cn-hangzhou")
    wrong = openkms(server, home, "call", "ListKeys", "--signature", "v4", "--region", "eu-central-1")
    assert wrong.returncode == 1 and b"SignatureDoesNotMatch" in wrong.stderr



def test_the_secret_is_prompted_for_on_a_terminal(server: ServerProcess, home: Path) -> None:
    """--access-key-id without the secret in the environment asks on the terminal, unechoed."""
    leader, follower = pty.openpty()
    proc = subprocess.Popen(
        [*CLI, "call", "--endpoint", f"http://{server.endpoint}", "--access-key-id", ACCESS_KEY_ID, "ListKeys"],
        env=client_env(home), stdin=follower, stdout=subprocess.PIPE, stderr=follower, start_new_session=True,
    )
    os.close(follower)
    shown = b""
    while b"AccessKeySecret of" not in shown:
        shown += os.read(leader, 1024)
    os.write(leader, ACCESS_KEY_SECRET.encode() + b"\n")
    out, _ = proc.communicate(timeout=60)
    try:
        while part := os.read(leader, 1024):
            shown += part
    except OSError:
        pass
    os.close(leader)
    assert proc.returncode == 0 and "Keys" in json.loads(out)
    assert ACCESS_KEY_SECRET.encode() not in shown, shown
