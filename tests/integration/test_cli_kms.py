"""`openkms kms COMMAND` against a real server (issue 24): the subcommands generated from the
action table call their action with typed options (repeat lists, booleans, integers, choices),
the file and standard-input conveniences round-trip bytes through Base64, an error answer comes
back with its Alibaba Code and exit 1, a usage error exits 2 before anything is sent."""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import re
import secrets
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from openkms import cli, cli_kms
from openkms.api import KMS_ACTIONS
from tests.support.cli_client import ROOT_ENV, client_env
from tests.support.server import CLI, ServerProcess


@dataclass
class Done:
    returncode: int
    stdout: bytes
    stderr: bytes


def kms(server: ServerProcess, home: Path, *args: str, input: bytes | None = None) -> Done:
    """`openkms kms --endpoint http://SERVER ARGS`, run in this process (the action table is
    imported once, not per call) as the account's root, standard input holding ``input``."""
    out, err = io.BytesIO(), io.StringIO()
    stdout = io.TextIOWrapper(out, encoding="utf-8", write_through=True)
    with pytest.MonkeyPatch.context() as mp:
        for name in [n for n in os.environ if n.startswith("ALIBABA_CLOUD_")]:
            mp.delenv(name)
        for name, value in ROOT_ENV.items():
            mp.setenv(name, value)
        mp.setenv("HOME", str(home))
        mp.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(input or b""), encoding="utf-8"))
        mp.setattr(sys, "stdout", stdout)
        mp.setattr(sys, "stderr", err)
        try:
            code = cli.main(["kms", "--endpoint", f"http://{server.endpoint}", *args])
        except SystemExit as exc:
            code = int(exc.code or 0)
    return Done(code, out.getvalue(), err.getvalue().encode())


def ok(server: ServerProcess, home: Path, *args: str, input: bytes | None = None) -> dict[str, Any]:
    done = kms(server, home, *args, input=input)
    assert done.returncode == 0, done.stderr.decode()
    return json.loads(done.stdout)  # type: ignore[no-any-return]


def test_keys_aliases_and_tags(server: ServerProcess, tmp_path: Path) -> None:
    made = ok(server, tmp_path, "create-key", "--key-spec", "Aliyun_AES_256", "--description", "kms cli",
              "--enable-automatic-rotation", "--rotation-interval", "30d")["KeyMetadata"]
    key = made["KeyId"]
    assert made["KeySpec"] == "Aliyun_AES_256" and made["AutomaticRotation"] == "Enabled"
    name = f"alias/kmscli-{secrets.token_hex(4)}"
    ok(server, tmp_path, "create-alias", "--alias-name", name, "--key-id", key)
    assert ok(server, tmp_path, "describe-key", "--key-id", name)["KeyMetadata"]["Description"] == "kms cli"
    ok(server, tmp_path, "tag-resources", "--resource-type", "key", "--resource-id", key,
       "--tag", "team=blue sky", "--tag", "cost=a+b/c=d", "--tag", "bare")
    tags = ok(server, tmp_path, "list-resource-tags", "--key-id", key)["Tags"]["Tag"]
    assert {(t["TagKey"], t["TagValue"]) for t in tags} == {("team", "blue sky"), ("cost", "a+b/c=d"), ("bare", "")}
    ok(server, tmp_path, "untag-resources", "--resource-type", "key", "--resource-id", key, "--tag-key", "bare",
       "--tag-key", "cost")
    assert [t["TagKey"] for t in ok(server, tmp_path, "list-resource-tags", "--key-id", key)["Tags"]["Tag"]] == ["team"]
    page = ok(server, tmp_path, "list-aliases", "--page-size", "1", "--page-number", "1")
    assert page["PageSize"] == 1 and len(page["Aliases"]["Alias"]) == 1
    # As a process of its own: the table output, the connection flags before the command.
    done = subprocess.run([*kms_words(server), "list-aliases-by-key-id", "--key-id", key, "--output", "table"],
                          env=env_of(tmp_path), capture_output=True, timeout=120)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.decode().splitlines()
    assert lines[0].split() == ["FIELD", "VALUE"] and "Aliases (1)" in lines
    assert name in lines[lines.index("Aliases (1)") + 3]
    missing = subprocess.run([*kms_words(server), "describe-key", "--key-id", f"{name}-absent"],
                             env=env_of(tmp_path), capture_output=True, timeout=120)
    assert missing.returncode == 1 and missing.stderr.startswith(b"openkms: Forbidden.AliasNotFound: ")
    ok(server, tmp_path, "disable-key", "--key-id", key)
    assert ok(server, tmp_path, "describe-key", "--key-id", key)["KeyMetadata"]["KeyState"] == "Disabled"
    ok(server, tmp_path, "set-deletion-protection", "--protected-resource-arn", made["Arn"],
       "--enable-deletion-protection")
    protected = kms(server, tmp_path, "schedule-key-deletion", "--key-id", key, "--pending-window-in-days", "7")
    assert protected.returncode == 1, protected.stderr
    assert protected.stderr.startswith(b"openkms: Rejected.StateModifiedFailed: "), protected.stderr
    ok(server, tmp_path, "set-deletion-protection", "--protected-resource-arn", made["Arn"],
       "--no-enable-deletion-protection")
    ok(server, tmp_path, "schedule-key-deletion", "--key-id", key, "--pending-window-in-days", "7")
    assert ok(server, tmp_path, "describe-key", "--key-id", key)["KeyMetadata"]["KeyState"] == "PendingDeletion"


def kms_words(server: ServerProcess) -> list[str]:
    """`openkms kms` and its connection flags before the command (V4-signed, for once)."""
    return [*CLI, "kms", "--signature", "v4", "--endpoint", f"http://{server.endpoint}"]


def env_of(home: Path) -> dict[str, str]:
    return client_env(home, **ROOT_ENV)


@pytest.fixture(scope="module")
def aes(server: ServerProcess, tmp_path_factory: pytest.TempPathFactory) -> str:
    home = tmp_path_factory.mktemp("home")
    return str(ok(server, home, "create-key", "--description", "kms cli files")["KeyMetadata"]["KeyId"])


def test_encrypt_and_decrypt_files_and_standard_streams(server: ServerProcess, aes: str, tmp_path: Path) -> None:
    data = bytes(range(256)) * 8 + b"\n"
    (tmp_path / "data.bin").write_bytes(data)
    context = '{"tenant":"acme"}'
    done = kms(server, tmp_path, "encrypt", "--key-id", aes, "--plaintext-file", str(tmp_path / "data.bin"),
               "--encryption-context", context, "--output-file", str(tmp_path / "data.blob"))
    assert done.returncode == 0 and done.stdout == b"", done.stderr
    assert (tmp_path / "data.blob").stat().st_mode & 0o777 == 0o600
    done = kms(server, tmp_path, "decrypt", "--ciphertext-blob-file", str(tmp_path / "data.blob"),
               "--encryption-context", context, "--output-file", str(tmp_path / "data.out"))
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "data.out").read_bytes() == data
    # Standard input in, the answer's JSON out; the blob on standard input, the bytes on standard output.
    blob = ok(server, tmp_path, "encrypt", "--key-id", aes, input=data)["CiphertextBlob"]
    back = kms(server, tmp_path, "decrypt", "--output-file", "-", input=f"{blob}\n".encode())
    assert back.returncode == 0 and back.stdout == data, back.stderr
    # --plaintext is the wire's value as given: Decrypt answers it as it was.
    blob = ok(server, tmp_path, "encrypt", "--key-id", aes, "--plaintext", "plain words")["CiphertextBlob"]
    assert ok(server, tmp_path, "decrypt", "--ciphertext-blob", blob)["Plaintext"] == "plain words"
    unwritable = kms(server, tmp_path, "decrypt", "--ciphertext-blob", blob, "--output-file", str(tmp_path / "no"))
    assert unwritable.returncode == 1 and b"not Base64" in unwritable.stderr and b"plain words" not in unwritable.stderr
    assert not (tmp_path / "no").exists()
    wrong = kms(server, tmp_path, "decrypt", "--ciphertext-blob-file", str(tmp_path / "data.blob"),
                "--output-file", str(tmp_path / "wrong.out"))
    assert wrong.returncode == 1 and wrong.stderr.startswith(b"openkms: InvalidParameter: "), wrong.stderr
    assert not (tmp_path / "wrong.out").exists()


def test_an_existing_output_file_is_refused_before_the_call(server: ServerProcess, aes: str, tmp_path: Path) -> None:
    (tmp_path / "taken").write_bytes(b"keep me")
    done = kms(server, tmp_path, "encrypt", "--key-id", aes, "--plaintext", "x", "--output-file", str(tmp_path / "taken"))
    assert done.returncode == 2 and b"exists" in done.stderr
    assert (tmp_path / "taken").read_bytes() == b"keep me"


def test_sign_verify_and_mac_through_files(server: ServerProcess, tmp_path: Path) -> None:
    key = ok(server, tmp_path, "create-key", "--key-spec", "EC_P256", "--key-usage", "SIGN/VERIFY")["KeyMetadata"]["KeyId"]
    version = ok(server, tmp_path, "list-key-versions", "--key-id", key)["KeyVersions"]["KeyVersion"][0]["KeyVersionId"]
    message = b"sign me, please"
    (tmp_path / "digest").write_bytes(hashlib.sha256(message).digest())
    common = ["--key-id", key, "--key-version-id", version]
    done = kms(server, tmp_path, "asymmetric-sign", *common, "--algorithm", "ECDSA_SHA_256",
               "--digest-file", str(tmp_path / "digest"), "--output-file", str(tmp_path / "sig"))
    assert done.returncode == 0, done.stderr
    done = kms(server, tmp_path, "get-public-key", *common, "--output-file", str(tmp_path / "pub.pem"))
    assert done.returncode == 0, done.stderr
    public = serialization.load_pem_public_key((tmp_path / "pub.pem").read_bytes())
    assert isinstance(public, ec.EllipticCurvePublicKey)
    public.verify((tmp_path / "sig").read_bytes(), message, ec.ECDSA(hashes.SHA256()))  # raw DER bytes
    verified = ok(server, tmp_path, "asymmetric-verify", *common, "--algorithm", "ECDSA_SHA_256",
                  "--digest-file", str(tmp_path / "digest"), "--value-file", str(tmp_path / "sig"))
    assert verified["Value"] is True
    (tmp_path / "other").write_bytes(hashlib.sha256(b"another").digest())
    assert ok(server, tmp_path, "asymmetric-verify", *common, "--algorithm", "ECDSA_SHA_256",
              "--digest-file", str(tmp_path / "other"), "--value-file", str(tmp_path / "sig"))["Value"] is False

    hmac_key = ok(server, tmp_path, "create-key", "--key-spec", "HMAC_SHA_256",
                  "--key-usage", "GENERATE/VERIFY_MAC")["KeyMetadata"]["KeyId"]
    done = kms(server, tmp_path, "generate-mac", "--key-id", hmac_key, "--algorithm", "HMAC_SHA_256",
               "--output-file", str(tmp_path / "mac"), input=message)
    assert done.returncode == 0, done.stderr
    assert len((tmp_path / "mac").read_bytes()) == 32
    (tmp_path / "message").write_bytes(message)
    mac = ["--key-id", hmac_key, "--algorithm", "HMAC_SHA_256", "--mac-file", str(tmp_path / "mac")]
    assert ok(server, tmp_path, "verify-mac", *mac, "--message-file", str(tmp_path / "message"))["Value"] is True
    assert ok(server, tmp_path, "verify-mac", *mac, "--message", "b3RoZXI=")["Value"] is False


def test_secret_data_from_and_to_a_file(server: ServerProcess, tmp_path: Path) -> None:
    name = f"kmscli-{secrets.token_hex(4)}"
    value = "line one\nligne deux, été\n"
    (tmp_path / "value").write_text(value)
    ok(server, tmp_path, "create-secret", "--secret-name", name, "--version-id", "v1",
       "--secret-data-file", str(tmp_path / "value"))
    done = kms(server, tmp_path, "get-secret-value", "--secret-name", name, "--output-file", str(tmp_path / "back"))
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "back").read_text() == value


@pytest.mark.parametrize(
    ("args", "code"),
    [
        (["describe-key", "--key-id", "no-such-key"], "Forbidden.KeyNotFound"),
        (["describe-key", "--key-id", "alias/no-such-alias"], "Forbidden.AliasNotFound"),
        (["create-alias", "--alias-name", "no-prefix", "--key-id", "k"], "InvalidParameter"),
    ],
)
def test_errors_come_back_with_their_code_and_exit_1(server: ServerProcess, tmp_path: Path, args: list[str], code: str) -> None:
    done = kms(server, tmp_path, *args)
    assert done.returncode == 1 and done.stdout == b""
    assert done.stderr.decode().startswith(f"openkms: {code}: "), done.stderr
    assert b"RequestId" in done.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["describe-key"], "the following arguments are required: --key-id"),
        (["create-key", "--key-spec", "Aliyun_AES_512"], "invalid choice: 'Aliyun_AES_512'"),
        (["list-keys", "--page-size", "ten"], "invalid int value: 'ten'"),
        (["describe-key", "--key-id", "k", "--KeyId", "k"], "unrecognized arguments: --KeyId"),
        (["no-such-command"], "invalid choice: 'no-such-command'"),
        (["encrypt", "--key-id", "k", "--plaintext", "a", "--plaintext-file", "f"], "not allowed with argument"),
        (["encrypt", "--key-id", "k", "--plaintext-file", "/nonexistent/file"], "cannot read /nonexistent/file"),
        (["update-rotation-policy", "--key-id", "k"], "--enable-automatic-rotation/--no-enable-automatic-rotation"),
        (["tag-resources", "--resource-type", "key", "--tag", "a=b"], "the following arguments are required: --resource-id"),
        (["list-keys"], "give --endpoint"),
        (["encrypt", "--key-id", "k", "--plaintext-file", "big"], "big is too large for Plaintext (at most 65536"),
    ],
)
def test_usage_errors_exit_2_before_anything_is_sent(
    args: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ALIBABA_CLOUD_ACCESS_KEY_ID", "LTAIunused")
    monkeypatch.setenv("ALIBABA_CLOUD_ACCESS_KEY_SECRET", "unused")
    monkeypatch.chdir(tmp_path)
    (tmp_path / "big").write_bytes(b"x" * 50_000)  # 66,668 characters of Base64
    endpoint = [] if args == ["list-keys"] else ["--endpoint", "http://127.0.0.1:9"]  # nothing listens
    try:
        code = cli.main(["kms", *endpoint, *args])
    except SystemExit as exc:
        code = exc.code
    assert code == 2
    assert message in capsys.readouterr().err


def test_help_lists_every_command(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        cli.main(["kms", "--help"])
    listing = capsys.readouterr().out
    assert done.value.code == 0
    for action in KMS_ACTIONS:
        assert re.search(rf"^    {cli_kms.command(action)}(\s|$)", listing, re.M), action
    with pytest.raises(SystemExit):
        cli.main(["kms", "encrypt", "--help"])
    one = capsys.readouterr().out
    assert "--plaintext-file FILE" in one and "--key-id KEY_ID" in one and "--output-file FILE" in one


def test_every_parameter_of_every_action_has_its_option() -> None:
    """The generator leaves nothing out: each declared parameter is an option of its command,
    required exactly where the action requires it (or where a file or standard input may stand in)."""
    parser = cli_kms.build_parser()
    commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices
    assert set(commands) == {cli_kms.command(name) for name in KMS_ACTIONS}
    for name, spec in KMS_ACTIONS.items():
        options = commands[cli_kms.command(name)]._option_string_actions
        files = cli_kms.FILES.get(name, cli_kms.Files())
        for p in spec.params:
            flag = "--" + cli_kms.command(p.name)
            assert flag in options, (name, p.name)
            if p.name not in files.inputs:
                assert options[flag].required == p.required, (name, p.name)
            else:
                assert flag + "-file" in options, (name, p.name)
