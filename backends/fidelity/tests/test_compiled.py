"""The compiled fidelity backend (``states.py`` built by mypyc, backends/fidelity/setup.py)
against its own Python source: the same runs give the same results, number for number.

The source of ``states.py`` is loaded as a separate, interpreted module, and the backend's
plugin is pointed at its class for the second run of each scenario. The scenarios reach every
path of the module: depolarizing memories (the swap's fused aging), dephasing ones (the general
Pauli channel), gate, measurement and Bell-measurement errors, purification, and the lazy
catch-up at delivery. Where the build could not compile, both sides are the source;
``QPLANE_EXPECT_COMPILED=1`` (set by ``.ci/run``) makes the compiled build a requirement.
"""

from __future__ import annotations

import os
import random
from pathlib import Path

import pytest
from source_modules import load_source

import qplane
import qplane_backend_fidelity.backend as backend
import qplane_backend_fidelity.plugin as plugin
from qplane_devkit.conformance import chain_scenario

SOURCE = Path(backend.__file__).with_name("states.py")


@pytest.fixture(scope="module")
def source():
    return load_source(SOURCE, "qplane_backend_fidelity_states_source")


def test_compiled_where_expected():
    if os.environ.get("QPLANE_EXPECT_COMPILED") == "1":
        assert backend.COMPILED, f"the backend runs from {backend.states.__file__}, not an extension module"


def _requests(data: dict) -> tuple[list[dict], int]:
    """The run's requests (wall times left out) and its events."""
    res = qplane.build(qplane.load_scenario(data)).run()
    return [{k: v for k, v in r.items() if "wall" not in k} for r in res["requests"]], res["events"]


SCENARIOS = {
    "depolarizing, noisy operations": dict(nodes=5, pairs=300, count=2, coherence_time=0.05, pair_fidelity=0.97),
    "dephasing memories": dict(nodes=4, pairs=200, count=2, pair_fidelity=0.95),
    "purification": dict(nodes=3, pairs=100, count=3, coherence_time=0.5, pair_fidelity=0.9),
}


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_a_run_gives_the_same_numbers_compiled_and_from_source(name, source, monkeypatch):
    data = chain_scenario(**SCENARIOS[name], seed=11)
    data["hardware"]["operations"] = {"gate_error": 0.01, "measurement_error": 0.005, "bsm_success": 0.9}
    if name == "dephasing memories":
        data["hardware"]["memory"] = {"count": 2, "model": "t1t2", "t1": 1.0, "t2": 0.02}
    if name == "purification":
        data["protocols"]["purification"] = "dejmps"
    compiled = _requests(data)
    monkeypatch.setattr(plugin, "FidelityBackend", source.FidelityBackend)
    from_source = _requests(data)
    assert from_source == compiled
    assert compiled[0][0]["delivered"] > 0


def test_the_compiled_backend_can_be_subclassed():
    class Named(backend.FidelityBackend):
        name = "named"

    b = Named.from_params(None, random.Random(1))
    qa, qb = b.create_pair((0.9, 0.05, 0.03, 0.02), None, None, 0.0, 0.0)
    assert isinstance(b, Named) and b.name == "named" and b.fidelity(qa, qb, 0.0) == 0.9
