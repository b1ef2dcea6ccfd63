"""`openkms envelope` against a real server (issue 24): round trips (several chunks, an empty
file, standard input and output), every alteration of a sealed file failing closed (non-zero
exit, no OUT, nothing left beside it), the progress bar on a terminal only, and memory bounded
whatever the file's size (the child's peak RSS)."""

from __future__ import annotations

import hashlib
import io
import os
import pty
import secrets
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from openkms.client import envelope as env
from tests.support.cli_client import ROOT_ENV, call, client_env, openkms
from tests.support.server import CLI, ServerProcess

RECORD = env.CHUNK_SIZE + env.TAG_LEN


@pytest.fixture(scope="module")
def alias(server: ServerProcess, tmp_path_factory: pytest.TempPathFactory) -> str:
    home = tmp_path_factory.mktemp("home")
    key = call(server, home, "CreateKey", "--Description", "envelope tests")["KeyMetadata"]["KeyId"]
    name = f"alias/envelope-{secrets.token_hex(4)}"
    call(server, home, "CreateAlias", "--AliasName", name, "--KeyId", key)
    return name


@pytest.fixture(scope="module")
def sealed(server: ServerProcess, alias: str, tmp_path_factory: pytest.TempPathFactory) -> tuple[bytes, bytes]:
    """(plaintext of three chunks and a bit, its envelope file)."""
    work = tmp_path_factory.mktemp("sealed")
    plaintext = secrets.token_bytes(3 * env.CHUNK_SIZE + 1234)
    (work / "in").write_bytes(plaintext)
    done = openkms(server, work, "envelope", "encrypt", "--key", alias, "--context", "app=tests",
                   "--context", "file=in", str(work / "in"), str(work / "out.okms"))
    assert done.returncode == 0, done.stderr
    assert done.stderr == b""  # piped: no progress bar
    return plaintext, (work / "out.okms").read_bytes()


def _header_len(data: bytes) -> int:
    return len(env.read_header(io.BytesIO(data))[1])


def test_round_trip_of_several_chunks(server: ServerProcess, sealed: tuple[bytes, bytes], tmp_path: Path) -> None:
    plaintext, data = sealed
    header, raw = env.read_header(io.BytesIO(data))
    assert header.context == {"app": "tests", "file": "in"} and header.chunk_size == env.CHUNK_SIZE
    assert len(data) == len(raw) + len(plaintext) + 4 * env.TAG_LEN
    assert plaintext not in data and plaintext[:64] not in data
    (tmp_path / "in.okms").write_bytes(data)
    done = openkms(server, tmp_path, "envelope", "decrypt", str(tmp_path / "in.okms"), str(tmp_path / "plain"))
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "plain").read_bytes() == plaintext
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.okms", "plain"]


def test_round_trip_of_an_empty_file_through_stdin_and_stdout(server: ServerProcess, alias: str, tmp_path: Path) -> None:
    enc = openkms(server, tmp_path, "envelope", "encrypt", "--key", alias, "-", "-", input=b"")
    assert enc.returncode == 0, enc.stderr
    assert len(enc.stdout) == _header_len(enc.stdout) + env.TAG_LEN
    dec = openkms(server, tmp_path, "envelope", "decrypt", "-", "-", input=enc.stdout)
    assert dec.returncode == 0 and dec.stdout == b"", dec.stderr
    (tmp_path / "empty").write_bytes(b"")
    enc = openkms(server, tmp_path, "envelope", "encrypt", "--key", alias, str(tmp_path / "empty"), str(tmp_path / "e.okms"))
    dec = openkms(server, tmp_path, "envelope", "decrypt", str(tmp_path / "e.okms"), str(tmp_path / "back"))
    assert (enc.returncode, dec.returncode) == (0, 0) and (tmp_path / "back").read_bytes() == b""


def test_stdin_to_stdout_with_several_chunks(server: ServerProcess, alias: str, tmp_path: Path) -> None:
    plaintext = secrets.token_bytes(2 * env.CHUNK_SIZE)  # a whole number of chunks: the last is full
    enc = openkms(server, tmp_path, "envelope", "encrypt", "--key", alias, "-", "-", input=plaintext)
    assert enc.returncode == 0, enc.stderr
    assert len(enc.stdout) == _header_len(enc.stdout) + len(plaintext) + 2 * env.TAG_LEN
    dec = openkms(server, tmp_path, "envelope", "decrypt", "-", "-", input=enc.stdout)
    assert dec.returncode == 0 and dec.stdout == plaintext


def _chunks(data: bytes) -> tuple[bytes, list[bytes]]:
    n = _header_len(data)
    body = data[n:]
    return data[:n], [body[i : i + RECORD] for i in range(0, len(body), RECORD)]


def _flip(data: bytes, at: int) -> bytes:
    return data[:at] + bytes([data[at] ^ 0x20]) + data[at + 1 :]


def _swap(data: bytes) -> bytes:
    head, c = _chunks(data)
    return head + b"".join([c[0], c[2], c[1], c[3]])


TAMPERS: dict[str, Callable[[bytes], bytes]] = {
    "a byte flipped in a chunk": lambda d: _flip(d, _header_len(d) + RECORD + 100),
    "a byte flipped in the header's nonce prefix": lambda d: _flip(d, 14),
    "a byte flipped in the header's blob": lambda d: _flip(d, 40),
    "the header's context changed": lambda d: d.replace(b'"app":"tests"', b'"app":"testz"', 1),
    "the last chunk truncated": lambda d: d[:-10],
    "the last chunk cut off": lambda d: _chunks(d)[0] + b"".join(_chunks(d)[1][:-1]),
    "a middle chunk dropped": lambda d: _chunks(d)[0] + b"".join(_chunks(d)[1][0:1] + _chunks(d)[1][2:]),
    "two chunks swapped": _swap,
    "a chunk appended": lambda d: d + _chunks(d)[1][1],
    "a chunk duplicated": lambda d: _chunks(d)[0] + b"".join([_chunks(d)[1][0], *_chunks(d)[1]]),
    "only the header": lambda d: _chunks(d)[0],
    "not an envelope": lambda d: b"plain text that was never sealed\n" * 100,
}


@pytest.mark.parametrize("case", list(TAMPERS))
def test_every_tampering_fails_closed(server: ServerProcess, sealed: tuple[bytes, bytes], tmp_path: Path, case: str) -> None:
    _, data = sealed
    altered = TAMPERS[case](data)
    assert altered != data
    (tmp_path / "in.okms").write_bytes(altered)
    done = openkms(server, tmp_path, "envelope", "decrypt", str(tmp_path / "in.okms"), str(tmp_path / "plain"))
    assert done.returncode != 0 and done.stderr.startswith(b"openkms: "), done.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.okms"]  # no OUT, no temporary file
    piped = openkms(server, tmp_path, "envelope", "decrypt", "-", "-", input=altered)
    assert piped.returncode != 0 and piped.stdout == b""


def test_a_failing_encrypt_leaves_no_file(server: ServerProcess, tmp_path: Path) -> None:
    (tmp_path / "in").write_bytes(b"secret data")
    done = openkms(server, tmp_path, "envelope", "encrypt", "--key", "alias/does-not-exist", str(tmp_path / "in"),
                   str(tmp_path / "out"))
    assert done.returncode == 1 and done.stderr.startswith(b"openkms: Forbidden.AliasNotFound: ")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in"]


def test_an_existing_out_is_never_replaced(server: ServerProcess, alias: str, tmp_path: Path) -> None:
    (tmp_path / "in").write_bytes(b"x")
    (tmp_path / "out").write_bytes(b"keep me")
    done = openkms(server, tmp_path, "envelope", "encrypt", "--key", alias, str(tmp_path / "in"), str(tmp_path / "out"))
    assert done.returncode == 2 and b"exists" in done.stderr
    assert (tmp_path / "out").read_bytes() == b"keep me"
    bad = openkms(server, tmp_path, "envelope", "encrypt", "--key", alias, "--context", "novalue", "-", "-", input=b"")
    assert bad.returncode == 2 and b"KEY=VALUE" in bad.stderr


def test_decrypt_needs_the_callers_permission(server: ServerProcess, sealed: tuple[bytes, bytes], tmp_path: Path) -> None:
    """The data key is unwrapped by the server under the caller's identity: a RAM user with no
    policy gets its refusal, and no plaintext."""
    _, data = sealed
    user = f"env-{secrets.token_hex(4)}"
    call(server, tmp_path, "CreateUser", "--UserName", user)
    made = call(server, tmp_path, "CreateAccessKey", "--UserName", user)["AccessKey"]
    as_user = {"ALIBABA_CLOUD_ACCESS_KEY_ID": made["AccessKeyId"], "ALIBABA_CLOUD_ACCESS_KEY_SECRET": made["AccessKeySecret"]}
    (tmp_path / "in.okms").write_bytes(data)
    done = openkms(server, tmp_path, "envelope", "decrypt", str(tmp_path / "in.okms"), str(tmp_path / "plain"), env=as_user)
    assert done.returncode == 1 and done.stderr.startswith(b"openkms: Forbidden.NoPermission: "), done.stderr
    assert not (tmp_path / "plain").exists()


def _run_in_pty(args: list[str], home: Path) -> tuple[int, bytes]:
    """Run with standard error on a terminal; (exit code, what the terminal showed)."""
    leader, follower = pty.openpty()
    proc = subprocess.Popen(args, env=client_env(home, **ROOT_ENV), stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=follower)
    os.close(follower)
    shown = b""
    while True:
        try:
            part = os.read(leader, 4096)
        except OSError:
            break
        if not part:
            break
        shown += part
    os.close(leader)
    return proc.wait(60), shown


def test_progress_bar_on_a_terminal_only(server: ServerProcess, alias: str, tmp_path: Path) -> None:
    (tmp_path / "in").write_bytes(secrets.token_bytes(300_000))
    code, shown = _run_in_pty([*CLI, "envelope", "encrypt", "--endpoint", f"http://{server.endpoint}", "--key", alias,
                               str(tmp_path / "in"), str(tmp_path / "out")], tmp_path)
    assert code == 0 and b"100%" in shown and b"[###" in shown, shown
    code, shown = _run_in_pty([*CLI, "envelope", "decrypt", "--endpoint", f"http://{server.endpoint}", "--quiet",
                               str(tmp_path / "out"), str(tmp_path / "back")], tmp_path)
    assert code == 0 and shown == b""
    piped = openkms(server, tmp_path, "envelope", "decrypt", str(tmp_path / "out"), str(tmp_path / "again"))
    assert piped.returncode == 0 and piped.stderr == b""


# Linux keeps a forked child's peak RSS across exec, and a child forked from pytest starts with
# pytest's pages: the command is started by a small Python of its own, which reports the peak of
# its one child (resource.getrusage(RUSAGE_CHILDREN)).
_MEASURE = (
    "import resource, subprocess, sys\n"
    "done = subprocess.run(sys.argv[1:], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)\n"
    "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n"
    "sys.exit(done.returncode)\n"
)


def _peak_rss_mib(args: list[str], home: Path) -> float:
    """Run ``args`` to its end; its peak resident set, in MiB (ru_maxrss is KiB on Linux)."""
    done = subprocess.run([sys.executable, "-c", _MEASURE, *args], env=client_env(home, **ROOT_ENV),
                          capture_output=True, timeout=1800)
    assert done.returncode == 0, done.stderr
    return int(done.stdout) / 1024


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        while block := f.read(1 << 20):
            h.update(block)
    return h.hexdigest()


def _bounded_memory(server: ServerProcess, alias: str, tmp_path: Path, size: int) -> tuple[float, float]:
    source = tmp_path / "big"
    with source.open("wb") as f:  # sparse, with data at both ends and in the middle
        f.write(b"start")
        f.seek(size // 2)
        f.write(secrets.token_bytes(100_000))
        f.truncate(size)
    endpoint = ["--endpoint", f"http://{server.endpoint}"]
    try:
        enc = _peak_rss_mib(
            [*CLI, "envelope", "encrypt", *endpoint, "--key", alias, str(source), str(tmp_path / "big.okms")], tmp_path
        )
        dec = _peak_rss_mib([*CLI, "envelope", "decrypt", *endpoint, str(tmp_path / "big.okms"), str(tmp_path / "back")],
                            tmp_path)
        assert (tmp_path / "back").stat().st_size == size
        assert _sha256(tmp_path / "back") == _sha256(source)
    finally:
        for name in ("big", "big.okms", "back"):  # pytest keeps the directories of recent runs
            (tmp_path / name).unlink(missing_ok=True)
    return enc, dec


@pytest.mark.parametrize("size", [64 * 2**20, 2**30], ids=["64MiB", "1GiB"])
def test_memory_is_bounded(server: ServerProcess, alias: str, tmp_path: Path, size: int) -> None:
    """A file through encrypt and decrypt under 100 MB of RSS each, whatever its size (the
    1 GiB case takes about 7 s here: 3 GiB written to disk, checked by hash)."""
    if shutil.disk_usage(tmp_path).free < 4 * size:
        pytest.skip(f"needs {4 * size >> 20} MiB free in {tmp_path}")
    enc, dec = _bounded_memory(server, alias, tmp_path, size)
    print(f"peak RSS: encrypt {enc:.1f} MiB, decrypt {dec:.1f} MiB")
    assert enc < 100 and dec < 100, (enc, dec)
