"""Summarise a py-spy ``--format raw`` profile (collapsed stacks) of the server.

Prints the share of samples by self time (the function on top of the stack) and by inclusive
time (the function anywhere in the stack), so "where the time goes" can be read without a
flame-graph viewer. Usage: ``python bench/profsummary.py profile.txt [--top 30]``.
"""

from __future__ import annotations

import argparse
import re
from collections import Counter

FRAME = re.compile(r"^(?P<func>.*?) \((?P<file>[^()]*?)(?::(?P<line>\d+))?\)$")


def short(frame: str) -> str:
    """``process (openkms/server.py:92)`` -> ``server.py:process``; drops site-packages noise."""
    m = FRAME.match(frame.strip())
    if not m:
        return frame.strip()
    path = m.group("file")
    for marker in ("site-packages/", "lib/python3.", "src/"):
        if marker in path:
            path = path.split(marker, 1)[1]
            if marker == "lib/python3.":
                path = "stdlib:" + path.split("/", 1)[-1]
            break
    return f"{path}:{m.group('func')}"


def load(path: str) -> list[tuple[list[str], int]]:
    stacks = []
    with open(path, encoding="utf-8", errors="replace") as fh:
        for line in fh:
            line = line.rstrip("\n")
            if not line:
                continue
            stack, _, count = line.rpartition(" ")
            frames = [short(f) for f in stack.split(";") if f]
            # py-spy puts the thread/process name first; keep only code frames.
            frames = [f for f in frames if ":" in f]
            stacks.append((frames, int(count)))
    return stacks


# Where a request's time goes, by the deepest of these frames on the stack. Only samples inside
# openkms's request path are counted (KMSApp.__call__): uvicorn's own work per request is the
# floor of the benchmark, and py-spy cannot tell uvloop's polling from its work.
ENTRY = ("KMSApp.__call__", "KMSApp.process")
STAGES = [
    ("nonce record (replay guard)", ("FileNonceStore.use", "SQLNonceStore.use")),
    ("signature check (canonical form, HMAC, time, credentials)", ("Authenticator.verify",)),
    ("decode request (query, form, headers)", ("build_request",)),
    ("validate parameters", ("ActionSpec.bind",)),
    ("render answer (JSON/XML)", ("render_success", "render_error")),
    ("request log line", ("KMSApp._log",)),
    ("action handler (store read, crypto)", ("KMSApp._handle",)),
    # Wall-clock samples: on loopback the write also runs the receiver's TCP work and wakes the
    # loader, which may preempt the server inside the system call (CPU-only sampling with perf
    # puts the whole kernel at about a fifth of the server's CPU).
    ("the answer's write(2) (wall clock, incl. preemption by the woken loader)", ("_HeadHoldingTransport.write",)),
]
REST = "rest of the request path (server.py: request id, ASGI send, glue)"


def _has(frame: str, names: tuple[str, ...]) -> bool:
    return any(frame.endswith(":" + n) for n in names)


def stage_of(frames: list[str]) -> str:
    for frame in reversed(frames):
        for name, markers in STAGES:
            if _has(frame, markers):
                return name
    return REST


def summarise(stacks: list[tuple[list[str], int]], top: int) -> str:
    total = sum(c for _, c in stacks) or 1
    inside = [(f, c) for f, c in stacks if any(_has(x, ENTRY) for x in f)]
    n_in = sum(c for _, c in inside) or 1
    by_stage: Counter[str] = Counter()
    own: Counter[str] = Counter()
    for frames, count in inside:
        by_stage[stage_of(frames)] += count
        own[frames[-1]] += count
    out = [
        f"py-spy samples: {total}; inside openkms's request path (KMSApp.__call__): {n_in}.",
        "",
        "| stage of the request path | share |",
        "|---|---:|",
    ]
    out += [f"| {name} | {100 * c / n_in:.1f} % |" for name, c in by_stage.most_common()]
    out += ["", "| self time (share of the request path) | function |", "|---:|---|"]
    out += [f"| {100 * c / n_in:.1f} % | `{f}` |" for f, c in own.most_common(top)]
    return "\n".join(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("profile")
    ap.add_argument("--top", type=int, default=30)
    args = ap.parse_args()
    print(summarise(load(args.profile), args.top))


if __name__ == "__main__":
    main()
