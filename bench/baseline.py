"""The other side of an A/B run: an openkms of another git revision, installed once and reused.

``bench/run.py --baseline-commit REV`` calls :func:`build`: the tree of REV (``git archive``,
no worktree and nothing in the repository's metadata) goes to ``bench/.baseline/<commit>/src``
and a venv beside it, ``bench/.baseline/<commit>/venv``, gets it with ``pip install -e`` (no
test extras), made from the same base interpreter as the venv of the openkms it is compared
with. The dependencies the old tree shares with that venv are pinned to the versions installed
there (``pip freeze`` as constraints), so what differs between A and B is openkms's own code;
when the old tree's requirements exclude one of those versions the install is repeated without
the pins (recorded in ``bench/.baseline/<commit>/install.txt``). The directory is named by the
full commit, so ``HEAD~1`` resolves again on every run, and a finished install (its ``.installed``
stamp) is reused as it is; delete the directory to rebuild it.

    bench/.venv/bin/python bench/baseline.py HEAD~1      # build it (or find it) and print its openkms
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
STORE = HERE / ".baseline"


def git(*argv: str, cwd: Path = ROOT) -> str:
    return subprocess.run(["git", *argv], cwd=cwd, check=True, capture_output=True, text=True).stdout.strip()


def resolve(rev: str) -> str:
    """The full commit id of ``rev`` (a branch, a tag, HEAD~2, a short id)."""
    try:
        return git("rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}")
    except subprocess.CalledProcessError:
        sys.exit(f"bench: {rev!r} is not a commit of {ROOT}")


def base_python(openkms: Path) -> str:
    """The interpreter the venv of ``openkms`` was made from (the same one serves both sides)."""
    py = openkms.parent / "python"
    try:
        out = subprocess.run([str(py), "-c", "import sys; print(sys._base_executable)"], capture_output=True,
                             text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        out = ""
    return out or sys.executable


def build(rev: str, like: Path, log: Any = print) -> tuple[Path, dict[str, Any]]:
    """Install openkms at ``rev`` (once) and return its executable and what describes it."""
    commit = resolve(rev)
    home = STORE / commit
    src, venv, stamp = home / "src", home / "venv", home / ".installed"
    exe = venv / "bin" / "openkms"
    if stamp.exists() and exe.exists():
        log(f"baseline {rev} ({commit[:10]}): reusing {home}")
        return exe, {**json.loads(stamp.read_text() or "{}"), "rev": rev, "reused": True}
    if home.exists():
        shutil.rmtree(home)  # an install that did not finish
    src.mkdir(parents=True)
    log(f"baseline {rev} ({commit[:10]}): git archive into {src}")
    archive = subprocess.Popen(["git", "archive", "--format=tar", commit], cwd=ROOT, stdout=subprocess.PIPE)
    assert archive.stdout is not None
    subprocess.run(["tar", "-x", "-C", str(src)], stdin=archive.stdout, check=True)
    archive.stdout.close()
    if archive.wait() != 0:
        raise RuntimeError(f"git archive {commit} failed")
    python = base_python(like)
    log(f"baseline {rev}: venv from {python}, pip install -e (a minute or two the first time)")
    subprocess.run([python, "-m", "venv", str(venv)], check=True)
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "-q", "--disable-pip-version-check"]
    constraints = home / "constraints.txt"
    freeze = subprocess.run([str(like.parent / "python"), "-m", "pip", "freeze", "--exclude-editable"],
                            capture_output=True, text=True)
    pins = [ln for ln in freeze.stdout.splitlines()
            if "==" in ln and not ln.lower().startswith(("openkms==", "-e", "#"))]
    constraints.write_text("\n".join(pins) + "\n")
    pinned = True
    with open(home / "install.txt", "w") as out:
        done = subprocess.run([*pip, "-c", str(constraints), "-e", str(src)], stdout=out, stderr=subprocess.STDOUT)
        if done.returncode != 0:
            pinned = False
            log(f"baseline {rev}: its requirements exclude a version pinned in {like.parent.parent}; "
                "installing without the pins")
            out.write("\n-- again, without the constraints --\n")
            out.flush()
            done = subprocess.run([*pip, "-e", str(src)], stdout=out, stderr=subprocess.STDOUT)
    if done.returncode != 0 or not exe.exists():
        raise RuntimeError(f"pip install of {rev} failed; see {home / 'install.txt'}")
    meta = {"rev": rev, "commit": commit, "python": python, "pinned_to": str(like.parent.parent) if pinned else None,
            "subject": git("log", "-1", "--format=%s", commit)}
    stamp.write_text(json.dumps(meta))
    return exe, meta


def describe(openkms: Path) -> dict[str, Any]:
    """Where the code an openkms executable runs comes from: its package and, in git, its commit."""
    py = openkms.parent / "python"
    out: dict[str, Any] = {"executable": str(openkms)}
    try:
        pkg = subprocess.run([str(py), "-c", "import openkms, os; print(os.path.dirname(openkms.__file__))"],
                             capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return out
    out["package"] = pkg
    try:
        top = Path(git("rev-parse", "--show-toplevel", cwd=Path(pkg)))
        git("ls-files", "--error-unmatch", str(Path(pkg) / "__init__.py"), cwd=top)  # tracked, not an archive
        out["commit"] = git("rev-parse", "HEAD", cwd=top)
        out["subject"] = git("log", "-1", "--format=%s", cwd=top)
        out["dirty"] = bool(git("status", "--porcelain", "--untracked-files=no", "--", "src", "pyproject.toml",
                                cwd=top))
        out["tree"] = str(top)
    except (OSError, subprocess.CalledProcessError):
        pass
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("rev")
    ap.add_argument("--like", type=Path, default=ROOT / ".venv" / "bin" / "openkms",
                    help="the openkms whose interpreter and dependency versions to use")
    args = ap.parse_args()
    exe, _ = build(args.rev, args.like)
    print(exe)


if __name__ == "__main__":
    main()
