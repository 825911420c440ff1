"""GHZ states fused at a hub from Werner pairs (issue 15), on the density and stabilizer
backends, against the closed forms of qplane_physics: ideal operations, no storage noise.

Density results are exact (every fused state has the closed-form fidelity, 1e-9); the stabilizer
backend samples one trajectory per state, so its mean over N states is compared within 4
standard errors (fixed seeds). The two backends are compared with each other the same way."""

from __future__ import annotations

import math
import random

import pytest

import qplane_physics as physics
from qplane.errors import CapabilityError
from qplane_backend_density.backend import DensityBackend
from qplane_backend_stabilizer.backend import StabilizerBackend
from qplane_engine.ghz import apply_ghz_corrections, fuse_ghz, fusion_group_qubits

SIGMAS = 4.0


def fused(b, pairs: int, f: float, keep_first: bool, **errors: float) -> list:
    """Fuse ``pairs`` Werner pairs of fidelity ``f`` at a hub; the GHZ state's qubits."""
    made = [b.create_pair(physics.werner(f), None, None, 0.0, 0.0) for _ in range(pairs)]
    hub = [p[0] for p in made]
    parties = [p[1] for p in made]
    x_flips, z_flip = fuse_ghz(b, hub, 0.0, keep_first, **errors)
    assert len(x_flips) == pairs - 1 and all(x in (0, 1) for x in x_flips) and z_flip in (0, 1)
    assert not keep_first or z_flip == 0
    apply_ghz_corrections(b, parties, x_flips, z_flip, 0.0)
    return ([hub[0]] if keep_first else []) + parties


def mean_se(values: list[float]) -> tuple[float, float]:
    n = len(values)
    m = sum(values) / n
    var = sum((v - m) ** 2 for v in values) / (n - 1)
    return m, math.sqrt(max(var, 1e-12) / n)


# (parties, hub is a party): the hub fuses parties (hub not a party) or parties - 1 pairs
CASES = [(3, False), (5, False), (3, True), (5, True)]


def expected(parties: int, hub_party: bool, f: float) -> float:
    w = physics.werner_parameter(f)
    return physics.ghz_fidelity_depolarized(parties, w, parties - 1 if hub_party else parties)


@pytest.mark.parametrize("parties,hub_party", CASES)
def test_density_fusion_is_exactly_the_closed_form(parties: int, hub_party: bool) -> None:
    b = DensityBackend(random.Random(1))
    for f in (1.0, 0.92, 0.8):
        for _ in range(3):  # every measurement outcome leads to the same state
            qs = fused(b, parties - hub_party, f, hub_party)
            assert len(qs) == parties
            assert abs(b.ghz_fidelity(qs, 0.0) - expected(parties, hub_party, f)) < 1e-9


@pytest.mark.parametrize("parties,hub_party", CASES)
def test_stabilizer_fusion_mean_matches_the_closed_form_and_density(parties: int, hub_party: bool) -> None:
    f, n = 0.9, 3000
    b = StabilizerBackend(random.Random(7 + parties))
    assert b.ghz_fidelity(fused(b, parties - hub_party, 1.0, hub_party), 0.0) == 1.0
    values = [b.ghz_fidelity(fused(b, parties - hub_party, f, hub_party), 0.0) for _ in range(n)]
    assert set(values) <= {0.0, 1.0}  # a GHZ state up to a Pauli: 1 or 0 per trajectory
    m, se = mean_se(values)
    want = expected(parties, hub_party, f)
    assert abs(m - want) <= SIGMAS * se, (m, se, want)
    d = DensityBackend(random.Random(2))
    exact = d.ghz_fidelity(fused(d, parties - hub_party, f, hub_party), 0.0)
    assert abs(m - exact) <= SIGMAS * se


def test_measurement_error_closed_form_and_agreement() -> None:
    """Perfect pairs, readout error e: a wrong X correction on one of parties 1..n-1, or a
    wrong Z on party 0, each makes the state orthogonal to GHZ, so F = (1-e)^n; gate errors:
    the backends agree within statistical error."""
    e, parties = 0.05, 4
    d = DensityBackend(random.Random(3))
    s = StabilizerBackend(random.Random(4))
    for b, n in ((d, 400), (s, 3000)):
        m, se = mean_se([b.ghz_fidelity(fused(b, parties, 1.0, False, measurement_error=e), 0.0) for _ in range(n)])
        assert abs(m - (1 - e) ** parties) <= SIGMAS * se + 1e-9, (b.name, m, se)
    dm = sum(d.ghz_fidelity(fused(d, 3, 0.95, True, gate_error=0.04), 0.0) for _ in range(20)) / 20
    sm, sse = mean_se([s.ghz_fidelity(fused(s, 3, 0.95, True, gate_error=0.04), 0.0) for _ in range(3000)])
    assert abs(sm - dm) <= SIGMAS * sse, (sm, sse, dm)
    assert dm < expected(4, True, 0.95) - 0.01  # the gate errors cost fidelity


def mermin_samples(b, parties: int, f: float, n: int, rng: random.Random) -> list[float]:
    """One Mermin term per state, drawn uniformly among the 2^(n-1) products of X/Y with an
    even number of Y: ``2^(n-1) (-1)^(#Y/2) prod(+-1)`` estimates M without bias."""
    out = []
    for _ in range(n):
        qs = fused(b, parties, f, False)
        ys = [rng.getrandbits(1) for _ in range(parties - 1)]
        ys.append(sum(ys) % 2)
        product = 1
        for q, y in zip(qs, ys):
            product *= 1 - 2 * b.measure(q, "Y" if y else "X", 0.0)
        out.append(2 ** (parties - 1) * (-1) ** (sum(ys) // 2) * product)
    return out


@pytest.mark.parametrize("backend,n", [(StabilizerBackend, 3000), (DensityBackend, 1500)])
def test_mermin_value_matches_the_closed_form(backend, n: int) -> None:
    f, parties = 0.93, 3
    m, se = mean_se(mermin_samples(backend(random.Random(5)), parties, f, n, random.Random(6)))
    want = physics.mermin_value(parties, physics.werner_parameter(f))
    assert abs(m - want) <= SIGMAS * se, (m, se, want)
    assert want > 2.0  # above the local-realist bound 2 for n = 3


def test_density_holds_ten_qubits_and_refuses_more() -> None:
    b = DensityBackend(random.Random(8))
    assert b.max_group_qubits == 10 and StabilizerBackend.max_group_qubits is None
    assert fusion_group_qubits(8) == 10
    qs = fused(b, 8, 0.95, False)  # peaks at a 10-qubit group
    assert abs(b.ghz_fidelity(qs, 0.0) - expected(8, False, 0.95)) < 1e-9
    with pytest.raises(CapabilityError, match="at most 10 qubits"):
        fused(b, 9, 0.95, False)


def test_stabilizer_twenty_parties_and_bad_input() -> None:
    b = StabilizerBackend(random.Random(9))
    qs = fused(b, 20, 1.0, False)
    assert b.ghz_fidelity(qs, 0.0) == 1.0
    b.apply_pauli(qs[7], 1, 0.0)
    assert b.ghz_fidelity(qs, 0.0) == 0.0
    # two separate pairs' halves: the product of two |Phi+>-halves is not GHZ-correlated
    pa, pb = b.create_pair((1, 0, 0, 0), None, None, 0.0, 0.0), b.create_pair((1, 0, 0, 0), None, None, 0.0, 0.0)
    assert b.ghz_fidelity([pa[0], pa[1], pb[0]], 0.0) == 0.5 * 0.5  # exact: half of |00><00|+|11><11| (x) I/2
    with pytest.raises(ValueError, match="two or more"):
        fuse_ghz(b, [pa[0]], 0.0, False)
    with pytest.raises(ValueError, match="x_flips"):
        apply_ghz_corrections(b, [pa[1], pb[1]], [], 0, 0.0)
