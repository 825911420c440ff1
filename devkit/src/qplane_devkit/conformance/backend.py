"""The conformance kit every state backend passes. A backend's own test suite subclasses it::

    from qplane_devkit.conformance import BackendConformance

    class TestConformance(BackendConformance):
        backend_name = "mybackend"      # looked up in the registry, as a scenario would

(or override :meth:`BackendConformance.make_backend`). The kit checks canonical operations
against closed forms — create, Pauli channels, storage noise, swap, purification,
measurement, GHZ fusion for backends with ``multipartite`` — and agreement with the
``fidelity`` backend on Pauli-noise scenarios. Backends that declare ``exact-fidelity`` are
held to 1e-9; sampled backends (0/1 fidelities) to ``sigmas`` standard errors over ``samples``
repetitions.
"""

from __future__ import annotations

import math
import random
from typing import Any, Callable

import qplane_physics as physics
from qplane.backend import Capability
from qplane.errors import CapabilityError

from .kit import chain_scenario, kit_registry


class DepolarizingNoise:
    """Storage noise for the kit: depolarizing with coherence time ``T``."""

    def __init__(self, T: float):
        self.depolarizing_time = T

    def pauli_probs(self, dt: float) -> tuple[float, float, float, float]:
        lam = 1.0 - math.exp(-dt / self.depolarizing_time)
        return (1.0 - 0.75 * lam, lam / 4, lam / 4, lam / 4)


class DephasingNoise:
    """Storage noise for the kit: pure dephasing with time ``T2`` (a Pauli channel)."""

    depolarizing_time = None

    def __init__(self, T2: float):
        self.T2 = T2

    def pauli_probs(self, dt: float) -> tuple[float, float, float, float]:
        pz = (1.0 - math.exp(-dt / self.T2)) / 2.0
        return (1.0 - pz, 0.0, pz, 0.0)


class BackendConformance:
    """Conformance tests for a state backend; subclass and set ``backend_name``."""

    backend_name: str = ""
    #: repetitions for backends whose fidelity is sampled (no ``exact-fidelity``)
    samples: int = 4000
    #: tolerance of statistical checks, in standard errors
    sigmas: float = 4.0
    #: your plugin module (or object), registered by hand when it is not installed
    plugin: Any = None

    # -- plumbing --------------------------------------------------------------------
    def make_backend(self, seed: int = 1) -> Any:
        comp = kit_registry(self.plugin).get("backend", self.backend_name)
        return comp.factory(comp.validate({}, "backend"), random.Random(seed))

    def _exact(self, b: Any) -> bool:
        return Capability.EXACT_FIDELITY in b.capabilities

    def _check(self, b: Any, sample: Callable[[], float], expected: float, what: str) -> None:
        """``sample()`` returns one fidelity (or 0/1 outcome); compare its mean to ``expected``."""
        if self._exact(b):
            got = sample()
            assert abs(got - expected) < 1e-9, f"{what}: {got} != {expected}"
            return
        n = self.samples
        values = [sample() for _ in range(n)]
        mean = sum(values) / n
        se = math.sqrt(max(expected * (1 - expected), 1.0 / n) / n)
        assert abs(mean - expected) <= self.sigmas * se, f"{what}: {mean} vs {expected} (± {self.sigmas}·{se:.3g})"

    # -- declaration -----------------------------------------------------------------
    def test_declares_capabilities(self) -> None:
        b = self.make_backend()
        assert isinstance(b.name, str) and b.name
        caps = b.capabilities
        assert all(isinstance(c, Capability) for c in caps)
        assert Capability.PAIR_OPERATIONS in caps

    # -- pairs and Pauli operations ---------------------------------------------------
    def test_create_pair_has_its_fidelity(self) -> None:
        b = self.make_backend(2)
        for f in (1.0, 0.9, 0.6):
            def sample() -> float:
                qa, qb = b.create_pair(physics.werner(f), None, None, 0.0, 0.0)
                return b.fidelity(qa, qb, 0.0)
            self._check(b, sample, f, f"create_pair(werner({f}))")

    def test_pauli_corrections_permute_bell_states(self) -> None:
        b = self.make_backend(3)
        for pauli in (1, 2, 3):
            qa, qb = b.create_pair((1.0, 0.0, 0.0, 0.0), None, None, 0.0, 0.0)
            b.apply_pauli(qb, pauli, 0.0)
            assert abs(b.fidelity(qa, qb, 0.0)) < 1e-9, f"Pauli {pauli} must leave Phi+"
            b.apply_pauli(qa, pauli, 0.0)  # the same Pauli on the other qubit restores Phi+
            assert abs(b.fidelity(qa, qb, 0.0) - 1.0) < 1e-9

    def test_pauli_channel(self) -> None:
        b = self.make_backend(4)
        probs = (0.7, 0.1, 0.15, 0.05)

        def sample() -> float:
            qa, qb = b.create_pair((1.0, 0.0, 0.0, 0.0), None, None, 0.0, 0.0)
            b.apply_pauli_channel(qa, probs, 0.0)
            return b.fidelity(qa, qb, 0.0)

        self._check(b, sample, probs[0], "pauli channel")

    # -- storage noise ------------------------------------------------------------------
    def test_depolarizing_storage_decay(self) -> None:
        b = self.make_backend(5)
        T, f0 = 0.5, 0.95
        noise = DepolarizingNoise(T)

        def sample() -> float:
            qa, qb = b.create_pair(physics.werner(f0), noise, noise, 0.0, 0.1)
            b.fidelity(qa, qb, 0.2)  # touching in between must not change the result
            return b.fidelity(qa, qb, 0.4)

        self._check(b, sample, physics.werner_after_storage(f0, (0.4 + 0.3) / T), "depolarizing storage")

    def test_dephasing_storage_decay(self) -> None:
        b = self.make_backend(6)
        T2 = 0.2
        noise = DephasingNoise(T2)

        def sample() -> float:
            qa, qb = b.create_pair((1.0, 0.0, 0.0, 0.0), noise, None, 0.0, 0.0)
            return b.fidelity(qa, qb, 0.1)

        self._check(b, sample, (1 + math.exp(-0.1 / T2)) / 2, "dephasing storage")

    # -- swapping -------------------------------------------------------------------------
    def _swap_sample(self, b: Any, f1: float, f2: float, **errors: float) -> float:
        a, r1 = b.create_pair(physics.werner(f1), None, None, 0.0, 0.0)
        r2, c = b.create_pair(physics.werner(f2), None, None, 0.0, 0.0)
        m = b.bell_measure(r1, r2, 0.0, **errors)
        b.apply_pauli(c, m, 0.0)
        return b.fidelity(a, c, 0.0)

    def test_swap_all_outcomes_restore_phi_plus(self) -> None:
        b = self.make_backend(7)
        seen = set()
        for _ in range(200):
            a, r1 = b.create_pair((1.0, 0.0, 0.0, 0.0), None, None, 0.0, 0.0)
            r2, c = b.create_pair((1.0, 0.0, 0.0, 0.0), None, None, 0.0, 0.0)
            m = b.bell_measure(r1, r2, 0.0)
            seen.add(m)
            b.apply_pauli(c, m, 0.0)
            assert abs(b.fidelity(a, c, 0.0) - 1.0) < 1e-9, f"outcome {m}: correction does not restore Phi+"
        assert seen == {0, 1, 2, 3}, f"outcomes seen: {sorted(seen)}"

    def test_werner_swap_formula(self) -> None:
        b = self.make_backend(8)
        for f1, f2 in ((0.9, 0.8), (0.95, 0.95)):
            self._check(b, lambda: self._swap_sample(b, f1, f2), physics.werner_swap_fidelity(f1, f2),
                        f"swap({f1}, {f2})")

    def test_swap_gate_and_measurement_errors(self) -> None:
        b = self.make_backend(9)
        g, e = 0.1, 0.05
        expected_v = physics.two_qubit_depolarize(
            physics.swap_pauli_order(physics.to_pauli_order(physics.werner(0.9)), physics.to_pauli_order(physics.werner(0.9))), g)
        expected_v = physics.pauli_channel(expected_v, ((1 - e) ** 2, e * (1 - e), e * (1 - e), e * e))
        n_exact = 4000
        if self._exact(b):  # outcomes are sampled even by exact backends: average the realized fidelities
            vals = [self._swap_sample(b, 0.9, 0.9, gate_error=g, measurement_error=e) for _ in range(n_exact)]
            mean = sum(vals) / n_exact
            var = sum((v - mean) ** 2 for v in vals) / (n_exact - 1)
            assert abs(mean - expected_v[0]) <= self.sigmas * math.sqrt(var / n_exact) + 1e-12
        else:
            self._check(b, lambda: self._swap_sample(b, 0.9, 0.9, gate_error=g, measurement_error=e),
                        expected_v[0], "swap with errors")

    # -- purification --------------------------------------------------------------------
    def _purify_rounds(self, b: Any, protocol: str, c: tuple, n: int, **errors: Any) -> tuple[float, list[float]]:
        kept = []
        ok = 0
        for _ in range(n):
            qa, qb = b.create_pair(c, None, None, 0.0, 0.0)
            sa, sb = b.create_pair(c, None, None, 0.0, 0.0)
            if b.purify((qa, qb), (sa, sb), 0.0, protocol, **errors):
                ok += 1
                kept.append(b.fidelity(qa, qb, 0.0))
            b.discard(qa, 0.0)
            b.discard(qb, 0.0)
        return ok / n, kept

    def _check_purify(self, protocol: str, c: tuple, **errors: Any) -> None:
        b = self.make_backend(10)
        if Capability.PURIFICATION not in b.capabilities:
            return
        expected, p = physics.purify(physics.to_pauli_order(c), physics.to_pauli_order(c), protocol, **errors)
        n = 2000 if self._exact(b) else self.samples
        rate, kept = self._purify_rounds(b, protocol, c, n, **errors)
        se = math.sqrt(p * (1 - p) / n)
        assert abs(rate - p) <= self.sigmas * se, f"{protocol} success {rate} vs {p}"
        mean = sum(kept) / len(kept)
        if self._exact(b):
            assert max(abs(k - expected[0]) for k in kept) < 1e-9, f"{protocol} kept fidelity"
        else:
            se_f = math.sqrt(expected[0] * (1 - expected[0]) / len(kept))
            assert abs(mean - expected[0]) <= self.sigmas * se_f, f"{protocol} kept fidelity {mean} vs {expected[0]}"

    def test_bbpssw(self) -> None:
        self._check_purify("bbpssw", physics.werner(0.8))

    def test_dejmps(self) -> None:
        self._check_purify("dejmps", (0.8, 0.1, 0.06, 0.04))

    def test_purification_noise_model(self) -> None:
        self._check_purify("dejmps", (0.85, 0.05, 0.06, 0.04), gate_error=(0.05, 0.02), measurement_error=(0.02, 0.03))

    # -- gates and measurement -----------------------------------------------------------
    def test_measurement_or_a_clear_capability_error(self) -> None:
        b = self.make_backend(11)
        caps = b.capabilities
        if Capability.GATES in caps or Capability.CLIFFORD_GATES in caps:
            for basis in ("Z", "X"):
                for _ in range(50):
                    qa, qb = b.create_pair((1.0, 0.0, 0.0, 0.0), None, None, 0.0, 0.0)
                    assert b.measure(qa, basis, 0.0) == b.measure(qb, basis, 0.0), f"Phi+ in {basis}"
            qa, qb = b.create_pair((1.0, 0.0, 0.0, 0.0), None, None, 0.0, 0.0)
            b.apply_gate("H", [qa], 0.0)
            b.apply_gate("H", [qb], 0.0)  # H x H leaves Phi+ invariant
            assert abs(b.fidelity(qa, qb, 0.0) - 1.0) < 1e-9
        if Capability.GATES not in caps:
            qa, qb = b.create_pair((1.0, 0.0, 0.0, 0.0), None, None, 0.0, 0.0)
            try:
                b.apply_gate("RX:0.3", [qa], 0.0)
            except CapabilityError as e:
                assert b.name in str(e) and "gates" in str(e)
            else:
                raise AssertionError("a non-Clifford gate on a backend without 'gates' must raise CapabilityError")

    # -- multipartite states (capability MULTIPARTITE) ------------------------------------
    def _fuse(self, b: Any, pairs: int, f: float, keep_first: bool) -> list:
        """GHZ fusion at a hub, written with the protocol's gates and measurements (the kit
        does not use the engine's ``fuse_ghz``; same circuit): CNOT from the hub's first qubit
        onto each other one and a Z measurement of that one (X correction at its party), then,
        unless the hub keeps the first qubit, an X measurement of it (Z correction at party 0)."""
        made = [b.create_pair(physics.werner(f), None, None, 0.0, 0.0) for _ in range(pairs)]
        h0 = made[0][0]
        for h, p in made[1:]:
            b.apply_gate("CNOT", [h0, h], 0.0)
            if b.measure(h, "Z", 0.0):
                b.apply_pauli(p, 1, 0.0)
        if not keep_first and b.measure(h0, "X", 0.0):
            b.apply_pauli(made[0][1], 2, 0.0)
        return ([h0] if keep_first else []) + [p for _, p in made]

    def test_multipartite_ghz_fusion(self) -> None:
        """A 3-party GHZ state fused at a hub from Werner pairs of fidelity F has the fidelity
        of a GHZ state whose noisy qubits are depolarized with w = (4F-1)/3
        (:func:`qplane_physics.ghz_fidelity_depolarized`); with the hub a party (2 pairs) its
        own qubit is noise-free. A pair's GHZ fidelity is its Phi+ fidelity."""
        b = self.make_backend(12)
        if Capability.MULTIPARTITE not in b.capabilities:
            return  # a declared lack: multipartite scenarios are refused before the run
        limit = getattr(b, "max_group_qubits", None)
        assert limit is None or (isinstance(limit, int) and limit >= 5), "max_group_qubits: None or an int >= 5"
        qa, qb = b.create_pair(physics.werner(0.8), None, None, 0.0, 0.0)
        assert abs(b.ghz_fidelity([qa, qb], 0.0) - b.fidelity(qa, qb, 0.0)) < 1e-9
        f = 0.9
        w = physics.werner_parameter(f)
        for pairs, keep_first, noisy in ((3, False, 3), (2, True, 2)):
            def sample() -> float:
                qubits = self._fuse(b, pairs, f, keep_first)
                assert len(qubits) == 3
                return b.ghz_fidelity(qubits, 0.0)
            self._check(b, sample, physics.ghz_fidelity_depolarized(3, w, noisy),
                        f"3-party GHZ fusion of Werner({f}) pairs, hub {'a party' if keep_first else 'not a party'}")

    # -- agreement with the fidelity backend on a network -----------------------------------
    def test_agrees_with_fidelity_backend_on_a_chain(self) -> None:
        """A 4-node chain with depolarizing memories, gate and measurement errors (Pauli
        noise only): same link timings (streams are per link), so means must agree."""
        from qplane.scenario import load_scenario
        from qplane import build

        def run(backend: str) -> dict:
            sc = chain_scenario(4, 20.0, pairs=600, count=2,
                                coherence_time=2e-3, pair_fidelity=0.97, seed=13, backend=backend)
            sc["hardware"]["operations"] = {"gate_error": 0.02, "measurement_error": 0.01}
            return build(load_scenario(sc), kit_registry(self.plugin)).run()["requests"][0]

        ours = run(self.backend_name)
        ref = run("fidelity")
        assert ours["status"] == ref["status"] == "completed"
        se = math.hypot(ours["fidelity_stderr"] or 0.0, ref["fidelity_stderr"] or 0.0)
        assert abs(ours["fidelity_mean"] - ref["fidelity_mean"]) <= self.sigmas * se + 1e-9, (ours["fidelity_mean"], ref["fidelity_mean"], se)
        # the network's estimate does not depend on the backend at all
        assert abs(ours["fidelity_estimated_mean"] - ref["fidelity_estimated_mean"]) < 1e-9
        assert abs(ours["rate_hz"] - ref["rate_hz"]) < 1e-9 * ref["rate_hz"]
