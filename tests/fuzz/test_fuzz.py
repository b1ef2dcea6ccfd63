"""Long coverage-guided fuzzing with atheris, one run per target (``make fuzz``; marker ``fuzz``,
never in the default run). ``FUZZ_SECONDS`` sets each run's length (default 60). Without
atheris installed (it may not build everywhere) the runs are skipped, not failed."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.fuzz.targets import TARGETS, seeds

ROOT = Path(__file__).parents[2]


@pytest.mark.fuzz
@pytest.mark.parametrize("name", sorted(TARGETS))
def test_atheris_finds_nothing(name: str, tmp_path: Path) -> None:
    """FUZZ_SECONDS of libFuzzer on the target: no finding, no hang (10 s per input), RSS under 2 GB."""
    pytest.importorskip("atheris", reason="atheris is not installed (make fuzz installs it where it builds)")
    seconds = int(os.environ.get("FUZZ_SECONDS", "60"))
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for i, seed in enumerate(seeds(name)):
        (corpus / f"seed-{i}").write_bytes(seed)
    proc = subprocess.run(
        [sys.executable, "-m", "tests.fuzz.run", name, str(corpus), f"-max_total_time={seconds}",
         "-timeout=10", "-rss_limit_mb=2048", f"-artifact_prefix={tmp_path}/"],
        capture_output=True, text=True, cwd=ROOT, timeout=seconds + 300,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    done = re.search(r"Done (\d+) runs in (\d+) second", proc.stderr)
    assert done is not None, proc.stderr[-2000:]
    print(f"{name}: {done.group(1)} executions in {done.group(2)} s, {len(list(corpus.iterdir()))} corpus entries")
