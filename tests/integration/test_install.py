"""The runtime install: the wheel builds, names no test package outside the `test` extra, and
(marked `install`, about a minute: `make test-install`) a fresh venv installs it, holds no test
tool, and serves from it. The systemd unit in deploy/ passes `systemd-analyze verify`."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import urllib.request
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]
# Distributions that belong to the test extra only.
TEST_ONLY = (
    "pytest",
    "pytest-xdist",
    "hypothesis",
    "aliyun-python-sdk-core",
    "aliyun-python-sdk-kms",
    "alibabacloud-kms20160120",
    "alibabacloud-tea-openapi",
    "snowland-smx",
    "alibabacloud-secretsmanager-client-v2",
    "alibabacloud-ram20150501",
    "alibabacloud-sts20150401",
    "alibabacloud-credentials",
    "playwright",
)


def _wheel(out: Path) -> Path:
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(out), str(ROOT)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    (wheel,) = out.glob("openkms-*.whl")
    return wheel


def _requires(wheel: Path) -> list[str]:
    with zipfile.ZipFile(wheel) as z:
        (meta,) = (n for n in z.namelist() if n.endswith(".dist-info/METADATA"))
        text = z.read(meta).decode()
    return [line.split(":", 1)[1].strip() for line in text.splitlines() if line.startswith("Requires-Dist:")]


def _name(requirement: str) -> str:
    match = re.match(r"[A-Za-z0-9._-]+", requirement)
    assert match is not None
    return match.group(0).lower().replace("_", "-")


def test_wheel_runtime_requirements_hold_no_test_tool(tmp_path: Path) -> None:
    """Every test tool and SDK is required only under `extra == "test"`; the runtime list is
    what the server imports. The console's templates and static files are in the wheel."""
    wheel = _wheel(tmp_path)
    with zipfile.ZipFile(wheel) as z:
        names = set(z.namelist())
    for name in ("templates/base.html", "templates/key.html", "static/console.css", "static/console.js"):
        assert f"openkms/console/{name}" in names, name
    requires = _requires(wheel)
    runtime = {_name(r) for r in requires if "extra ==" not in r}
    test = {_name(r) for r in requires if 'extra == "test"' in r}
    assert runtime == {
        "cryptography",
        "sqlalchemy",
        "alembic",
        "uvicorn",
        "httptools",
        "uvloop",
        "psycopg",
        "pymysql",
        "orjson",
        "jinja2",
        "protobuf",
    }
    assert set(TEST_ONLY) <= test
    assert not any("[standard]" in r for r in requires)


@pytest.mark.install
def test_fresh_venv_installs_the_wheel_and_serves(tmp_path: Path) -> None:
    """`pip install openkms-*.whl` in a new venv: no test package, `openkms --help`, init and
    serve answer /health."""
    wheel = _wheel(tmp_path / "dist")
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    pip = [str(venv / "bin" / "python"), "-m", "pip"]
    subprocess.run([*pip, "install", "-q", str(wheel)], check=True, capture_output=True, timeout=600)
    listed = subprocess.run(
        [*pip, "list", "--format=freeze"], check=True, capture_output=True, text=True
    ).stdout.lower()
    installed = {line.split("==")[0].replace("_", "-") for line in listed.splitlines()}
    assert installed & set(TEST_ONLY) == set()
    openkms = str(venv / "bin" / "openkms")
    assert subprocess.run([openkms, "--help"], capture_output=True, timeout=60).returncode == 0
    data = tmp_path / "data"
    subprocess.run([openkms, "init", "--data-dir", str(data)], check=True, capture_output=True, timeout=60)
    log = tmp_path / "serve.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [openkms, "serve", "--data-dir", str(data), "--port", "0"], stdout=out, stderr=subprocess.STDOUT
        )
    try:
        url = None
        for _ in range(200):
            found = re.search(r"serving on (http://[^\s\"]+)", log.read_text())
            if found:
                url = found.group(1)
                break
            assert proc.poll() is None, log.read_text()
            subprocess.run(["sleep", "0.1"], check=True)
        assert url is not None, log.read_text()
        with urllib.request.urlopen(f"{url}/health", timeout=10) as r:
            assert r.status == 200
    finally:
        proc.terminate()
        proc.wait(20)


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="no systemd-analyze here")
def test_systemd_unit_verifies(tmp_path: Path) -> None:
    """deploy/openkms.service passes `systemd-analyze verify` (its ExecStart made to exist)."""
    unit = (ROOT / "deploy" / "openkms.service").read_text()
    assert "NoNewPrivileges=yes" in unit and "ProtectSystem=strict" in unit
    assert "PrivateTmp=yes" in unit and "StateDirectory=openkms" in unit and "User=openkms" in unit
    # verify checks that ExecStart's program exists: point it at one that does.
    exec_start = re.search(r"^ExecStart=(\S+)", unit, re.MULTILINE)
    assert exec_start is not None
    copy = tmp_path / "openkms.service"
    copy.write_text(unit.replace(exec_start.group(1), shutil.which("true") or "/bin/true"))
    done = subprocess.run(
        ["systemd-analyze", "verify", str(copy)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    problems = [line for line in done.stderr.splitlines() if "openkms.service" in line]
    assert problems == [], done.stderr
