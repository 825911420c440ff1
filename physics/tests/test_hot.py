"""The compiled hot kernels (``qplane_physics._hot`` built by mypyc, physics/setup.py) against
their own Python source, to the last bit.

``test_physics.py`` checks the kernels against the closed forms and against the general
functions they fuse; this file checks that compiling them changed no float: the source of
``_hot.py`` is loaded as a separate, interpreted module and both are run on the same random
states, times and outcomes (and on the edge cases: tiny and huge ``dt / T``, zero
coefficients, integers where floats are expected). Where the build could not compile (no C
compiler), both sides are the source and the comparison holds trivially;
``QPLANE_EXPECT_COMPILED=1`` (set by ``.ci/run``) makes the compiled build a requirement, so CI
checks what the benchmarks run. A failure after editing ``_hot.py`` in a development install
means the compiled module is stale: ``pip install -e ./physics`` rebuilds it.
"""

from __future__ import annotations

import os
import random
from pathlib import Path

import pytest
from source_modules import load_source

import qplane_physics as physics

SOURCE = Path(physics.__file__).with_name("_hot.py")


@pytest.fixture(scope="module")
def source():
    return load_source(SOURCE, "qplane_physics_hot_source")


def _state(rng: random.Random) -> list[float]:
    w = [rng.random() ** rng.choice((1, 3, 8)) for _ in range(4)]
    s = sum(w)
    return [x / s for x in w]


def test_compiled_where_expected():
    """CI (``QPLANE_EXPECT_COMPILED=1``) runs the compiled kernels, not a silent fallback."""
    if os.environ.get("QPLANE_EXPECT_COMPILED") == "1":
        assert physics.COMPILED, f"the hot kernels run from {physics._hot.__file__}, not an extension module"
    assert physics.swap_after is physics._hot.swap_after


def test_kernels_equal_their_source_bitwise(source):
    rng = random.Random(20261130)
    for _ in range(20_000):
        v1, v2 = _state(rng), _state(rng)
        dt1, dt2 = rng.choice((rng.random(), rng.random() * 1e-6, rng.random() * 50.0)), rng.random()
        t1, t2 = rng.choice((1.0, 0.05, rng.random() + 1e-3)), rng.random() * 10 + 1e-6
        outcome = rng.randrange(4)
        assert physics.swap_after(v1, dt1, t1, v2, dt2, t2, outcome) == source.swap_after(v1, dt1, t1, v2, dt2, t2, outcome)
        assert physics.depolarize_after(v1, dt1, t1) == source.depolarize_after(v1, dt1, t1)


def test_edge_cases_equal_their_source(source):
    cases = [
        ([1.0, 0.0, 0.0, 0.0], 1e-300, 1.0, [0.25] * 4, 1e300, 1e-300, 3),  # no aging / full aging
        ([1, 0, 0, 0], 1e-9, 1.0, [0, 1, 0, 0], 2.0, 1.0, 1),  # integers where floats are expected
        ([0.97, 0.01, 0.01, 0.01], 745.0, 1.0, [0.5, 0.5, 0.0, 0.0], 0.5, 1.0, 2),  # exp underflows to 0
    ]
    for v1, dt1, t1, v2, dt2, t2, o in cases:
        assert physics.swap_after(v1, dt1, t1, v2, dt2, t2, o) == source.swap_after(v1, dt1, t1, v2, dt2, t2, o)
        assert physics.depolarize_after(v1, dt1, t1) == source.depolarize_after(v1, dt1, t1)
    with pytest.raises(ZeroDivisionError):
        physics.depolarize_after([1.0, 0.0, 0.0, 0.0], 1.0, 0.0)
    with pytest.raises(ZeroDivisionError):
        source.depolarize_after([1.0, 0.0, 0.0, 0.0], 1.0, 0.0)
