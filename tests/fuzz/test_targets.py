"""The fuzz targets in the default suite: hypothesis drives each with arbitrary bytes and with
mutations of its seeds, so a target that starts failing (or a harness that rots) is seen in CI
without atheris. The long coverage-guided runs are tests/fuzz/test_fuzz.py (``make fuzz``)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.fuzz.targets import SEP, TARGETS, seeds


@pytest.mark.parametrize("name", sorted(TARGETS))
def test_seeds_are_accepted_paths(name: str) -> None:
    """Every seed runs through its target without a finding."""
    for seed in seeds(name):
        TARGETS[name](seed)


def _inputs(name: str) -> st.SearchStrategy[bytes]:
    seeded = st.tuples(st.sampled_from(seeds(name)), st.binary(max_size=8), st.integers(0, 200)).map(
        lambda t: t[0][: t[2]] + t[1] + t[0][t[2] :]
    )
    pieces = st.lists(st.binary(max_size=60), max_size=4).map(SEP.join)
    return st.one_of(st.binary(max_size=300), seeded, pieces)


@pytest.mark.parametrize("name", sorted(TARGETS))
def test_target_holds_on_arbitrary_bytes(name: str) -> None:
    """Arbitrary and seed-mutated bytes: only the parser's catalogue error, and the properties hold."""

    @settings(max_examples=250, deadline=None)
    @given(_inputs(name))
    def run(data: bytes) -> None:
        TARGETS[name](data)

    run()
