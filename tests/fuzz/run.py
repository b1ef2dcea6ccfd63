"""Run one fuzz target under atheris (libFuzzer): ``python -m tests.fuzz.run TARGET [libFuzzer args]``.

``make fuzz`` runs every target for ``FUZZ_SECONDS`` (default 60) through tests/fuzz/test_fuzz.py;
by hand, for example::

    .venv/bin/python -m tests.fuzz.run ciphertext /tmp/corpus -max_total_time=600

A finding (an exception other than the target's catalogue error, or a failed property) stops
the run with a non-zero exit and writes the input to ``crash-<sha1>`` (see ``-artifact_prefix``).
"""

from __future__ import annotations

import sys

import atheris

# Our code and the stdlib parsers it leans on are instrumented (all of SQLAlchemy and the rest
# would take a minute per start).
with atheris.instrument_imports(include=["openkms", "tests.fuzz", "json", "base64", "binascii", "urllib.parse"]):
    from tests.fuzz.targets import TARGETS


def main() -> None:
    if len(sys.argv) < 2 or sys.argv[1] not in TARGETS:
        sys.exit(f"usage: python -m tests.fuzz.run {{{','.join(sorted(TARGETS))}}} [libFuzzer args]")
    target = TARGETS[sys.argv[1]]
    atheris.Setup([sys.argv[0], *sys.argv[2:]], target)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
