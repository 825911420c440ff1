"""Capability flags: what a backend lacks is refused before the run, naming who has it."""

from __future__ import annotations

import random

import pytest

import qplane
from qplane.backend import Capability
from qplane.cli import main
from qplane.errors import CapabilityError
from qplane.hookspecs import hookimpl
from qplane.plugins import make_plugin_manager
from qplane.registry import Registry
from qplane_devkit.conformance import chain_scenario
from qplane_backend_fidelity import FidelityBackend


class PairsOnlyBackend(FidelityBackend):
    """A backend that cannot purify (for these tests)."""

    name = "pairs-only"
    capabilities = frozenset({Capability.PAIR_OPERATIONS, Capability.EXACT_FIDELITY})


class PairsOnlyPlugin:
    @hookimpl
    def qplane_register_backends(self, register):
        register("pairs-only", PairsOnlyBackend.from_params)


def test_fidelity_backend_refuses_gates_naming_who_has_them():
    Registry()  # records the installed backends' capabilities
    b = FidelityBackend(random.Random(1))
    qa, qb = b.create_pair((1.0, 0.0, 0.0, 0.0), None, None, 0.0, 0.0)
    with pytest.raises(CapabilityError) as e:
        b.apply_gate("H", [qa], 0.0)
    msg = str(e.value)
    assert "'fidelity'" in msg and "'gates'" in msg and "apply_gate('H')" in msg
    assert "backends that have it: density" in msg
    with pytest.raises(CapabilityError, match="lacks capability 'gates'"):
        b.measure(qa, "Z", 0.0)


def test_purification_on_a_backend_without_it_fails_before_the_run():
    registry = Registry(make_plugin_manager(extra_plugins=[PairsOnlyPlugin()]))
    sc = chain_scenario(3, pairs=5, count=2, backend="pairs-only")
    sc["protocols"]["purification"] = "dejmps"
    with pytest.raises(CapabilityError) as e:
        qplane.build(qplane.load_scenario(sc), registry)
    msg = str(e.value)
    assert "'pairs-only'" in msg and "'purification'" in msg and "purification protocol 'dejmps'" in msg
    assert "fidelity" in msg.split("have it:")[1]
    # without purification the same backend runs
    sc["protocols"]["purification"] = "none"
    assert qplane.build(qplane.load_scenario(sc), registry).run()["requests"][0]["status"] == "completed"


def test_exact_amplitude_damping_needs_a_non_pauli_backend(tmp_path, capsys):
    sc = chain_scenario(2, pairs=5)
    sc["hardware"]["memory"] = {"model": "t1t2", "count": 1, "t1": 1.0, "t2": 0.5, "exact": True}
    import json

    path = tmp_path / "s.json"
    path.write_text(json.dumps(sc))
    assert main(["run", str(path), "--json", str(tmp_path / "r.json")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0
    assert "lacks capability 'non-pauli-noise'" in err and "memory model 't1t2'" in err and "density" in err
    # the same memory, Pauli-twirled, runs on the fidelity backend
    sc["hardware"]["memory"]["exact"] = False
    assert qplane.run(sc)["requests"][0]["status"] == "completed"


def test_plugins_command_shows_backend_capabilities(capsys):
    assert main(["plugins"]) == 0
    out = capsys.readouterr().out
    line = next(l for l in out.splitlines() if "backend" in l and " fidelity " in l)
    assert "[exact-fidelity, pair-operations, purification]" in line
