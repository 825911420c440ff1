"""One-way (3G) repeater chains: the rate is set by the local operation time, not by the links'
light travel time, and the chain's success probability is the hop probability to the power N
(issue 16, "Done means", 3G)."""

from __future__ import annotations

import math

import pytest

from qplane_repeaters.third_gen import ThirdGenChain


def closed_hop(n: int, m: int, eta: float) -> float:
    """QPC(n, m) transmission probability (Muralidharan et al. 2014, no operation errors)."""
    return (1 - (1 - eta) ** m) ** n - (1 - (1 - eta) ** m - eta ** m) ** n


def test_rate_is_hop_probability_to_the_n_over_the_operation_time():
    chain = ThirdGenChain("qpc(3,3)", links=8, link_km=5.0, attenuation_db_per_km=0.2, op_time_s=2e-6)
    eta = 10 ** (-0.2 * 5.0 / 10)
    assert chain.eta == pytest.approx(eta)
    assert chain.rate() == pytest.approx(closed_hop(3, 3, eta) ** 8 / 2e-6, rel=1e-12)


def test_doubling_the_operation_time_halves_the_rate():
    fast = ThirdGenChain("qpc(3,3)", 4, 3.0, op_time_s=1e-6, seed=11)
    slow = ThirdGenChain("qpc(3,3)", 4, 3.0, op_time_s=2e-6, seed=11)
    assert slow.rate() == pytest.approx(fast.rate() / 2, rel=1e-12)
    a, b = fast.simulate(20000), slow.simulate(20000)
    assert b.rate == pytest.approx(a.rate / 2, rel=1e-12)  # same draws, twice the time per logical qubit
    assert abs(a.rate - fast.rate()) < 4 * a.rate_stderr


def test_doubling_the_link_length_at_fixed_loss_leaves_the_rate():
    # same loss per hop (half the attenuation over twice the length): only the latency grows
    short = ThirdGenChain("steane", 4, 10.0, attenuation_db_per_km=0.2, op_time_s=1e-6, seed=5)
    long = ThirdGenChain("steane", 4, 20.0, attenuation_db_per_km=0.1, op_time_s=1e-6, seed=5)
    assert long.eta == pytest.approx(short.eta, rel=1e-12)
    assert long.rate() == pytest.approx(short.rate(), rel=1e-12)
    assert long.simulate(2000, "stim").rate == short.simulate(2000, "stim").rate
    c = 2.0e5  # km/s in fibre
    assert short.latency_s() == pytest.approx(4 * (10.0 / c + 1e-6))
    assert long.latency_s() - short.latency_s() == pytest.approx(4 * 10.0 / c)


@pytest.mark.parametrize("code,links,km,seed", [("qpc(3,3)", 4, 4.0, 1), ("steane", 6, 2.0, 2), ("qpc(2,2)", 3, 2.0, 3)])
def test_stim_chain_success_is_hop_probability_to_the_n(code, links, km, seed):
    chain = ThirdGenChain(code, links, km, seed=seed)
    shots = 1500
    s = chain.simulate(shots, "stim")
    exact = chain.hop_probability() ** links
    assert s.wrong == 0  # every delivered block is, by stim, the logical Bell pair with the source
    assert abs(s.fraction - exact) < 4 * math.sqrt(exact * (1 - exact) / shots), (s.fraction, exact)


def test_table_chain_success_and_photons_match_the_closed_forms():
    chain = ThirdGenChain("qpc(4,3)", 16, 2.5, seed=7)
    p = closed_hop(4, 3, chain.eta)
    shots = 100_000
    s = chain.simulate(shots)
    exact = p ** 16
    assert abs(s.fraction - exact) < 4 * math.sqrt(exact * (1 - exact) / shots)
    photons_per_attempt = 12 * sum(p ** h for h in range(16))
    assert chain.photons_per_attempt() == pytest.approx(photons_per_attempt, rel=1e-12)
    assert s.photons / shots == pytest.approx(photons_per_attempt, rel=0.01)
    assert chain.photons_per_delivered() == pytest.approx(photons_per_attempt / exact, rel=1e-12)
    assert chain.qubits_per_node() == 24


def test_same_seed_same_numbers():
    a = ThirdGenChain("qpc(3,3)", 5, 5.0, seed=3).sample(2000)
    b = ThirdGenChain("qpc(3,3)", 5, 5.0, seed=3).sample(2000)
    assert a == b


@pytest.mark.parametrize("kwargs,field", [
    ({"links": 0}, "links"), ({"op_time_s": 0.0}, "op_time_s"), ({"link_km": -1.0}, "link_km"),
    ({"attenuation_db_per_km": float("nan")}, "attenuation_db_per_km"), ({"code": "c422"}, "code c422"),
    ({"code": "nope"}, "code 'nope'"),
])
def test_bad_input_names_the_field(kwargs, field):
    args = {"code": "steane", "links": 2, "link_km": 1.0} | kwargs
    with pytest.raises(ValueError, match=field):
        ThirdGenChain(**args)


def test_bad_sampling_arguments():
    chain = ThirdGenChain("steane", 2, 1.0)
    with pytest.raises(ValueError, match="shots"):
        chain.sample(0)
    with pytest.raises(ValueError, match="method"):
        chain.sample(10, "exact")
