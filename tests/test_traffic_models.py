"""Traffic models beside poisson: onoff, gravity, hotspot, replay.

Each generator is checked against its distribution's closed form with a goodness-of-fit test at
level 0.001 (a fixed seed: the test fails if p < 0.001): the interrupted-Poisson inter-arrival law
for onoff, w_i w_j f(d_ij) / sum for gravity's pairs, the binomial hot-spot fraction; a replayed
trace is its rows exactly; errors are one line naming the field, file, line and column.
"""

from __future__ import annotations

import math
from collections import Counter
from pathlib import Path

import networkx as nx
import numpy as np
import pytest
import yaml
from scipy import stats

import qplane
from qplane.errors import ScenarioError
from qplane.kernel import Kernel
from qplane.traffic import TrafficContext
from qplane_scheduling import (GravityParams, GravityTraffic, HotspotParams, HotspotTraffic, OnOffParams,
                               OnOffTraffic)

LEVEL = 0.001  # every goodness-of-fit test below rejects at this level
GRID = [f"n{r}_{c}" for r in range(3) for c in range(3)]


def grid_km(a: str, b: str) -> float:
    """Shortest fibre distance on the 3x3 grid of the scenarios below (10 km spacing): Manhattan."""
    (ra, ca), (rb, cb) = (map(int, n[1:].split("_")) for n in (a, b))
    return 10.0 * (abs(ra - rb) + abs(ca - cb))


def context(seed: int, nodes=GRID, duration: float = 1.0, distance=grid_km, base_dir: str = ".") -> TrafficContext:
    return TrafficContext(rng=Kernel(seed).stream("traffic"), nodes=list(nodes), duration=duration,
                          distance_km=distance, base_dir=base_dir)


def scenario(traffic, *, seed: int = 5, duration: float = 0.05) -> dict:
    return {
        "name": "traffic-models", "seed": seed, "duration": duration,
        "topology": {"builder": "grid", "rows": 3, "cols": 3, "spacing_km": 10},
        "hardware": {"memory": {"count": 2}},
        "requests": [],
        "traffic": traffic,
    }


def generated(sc) -> list[qplane.EntanglementRequest]:
    loaded = sc if isinstance(sc, qplane.Scenario) else qplane.load_scenario(sc)
    return [h.request for h in qplane.build(loaded).handles]


# --- onoff -----------------------------------------------------------------------------------


def test_onoff_exponential_gaps_follow_the_interrupted_poisson_law():
    """One source with exponential ON (rate a = 1/on_s) and OFF (b = 1/off_s) periods and arrivals
    at lam while ON is an interrupted Poisson process; its gaps between arrivals have
    P(gap > x) = p e^{-r1 x} + (1 - p) e^{-r2 x}, r1,2 the roots of s^2 - (lam + a + b) s + lam b
    and p = (lam - r2) / (r1 - r2) (Kuczura 1973)."""
    lam, on_s, off_s, horizon = 200.0, 0.05, 0.1, 60.0
    reqs = OnOffTraffic(OnOffParams(rate_hz=lam, on_s=on_s, off_s=off_s, pairs=1, horizon=horizon)).generate(context(3))
    times = [r.start for r in reqs]
    assert times == sorted(times) and 0.0 < times[0] and times[-1] < horizon
    n_mean = lam * horizon * on_s / (on_s + off_s)  # 4000
    assert 0.8 * n_mean < len(times) < 1.2 * n_mean
    a, b = 1 / on_s, 1 / off_s
    s = lam + a + b
    r1, r2 = (s + math.sqrt(s * s - 4 * lam * b)) / 2, (s - math.sqrt(s * s - 4 * lam * b)) / 2
    p = (lam - r2) / (r1 - r2)
    gaps = [y - x for x, y in zip(times, times[1:])]
    ks = stats.kstest(gaps, lambda x: 1 - p * np.exp(-r1 * x) - (1 - p) * np.exp(-r2 * x))
    assert ks.pvalue > LEVEL, ks
    # a plain Poisson process of the same mean rate is rejected: the bursts are real
    mean_rate = lam * on_s / (on_s + off_s)
    assert stats.kstest(gaps, "expon", args=(0, 1 / mean_rate)).pvalue < LEVEL


def test_onoff_fixed_periods_arrive_only_while_on_poisson_within():
    """Fixed periods starting ON: ON windows are [k c, k c + on_s), c = on_s + off_s; no arrival
    outside them; per window the count is Poisson(lam on_s) (chi-square) and the arrivals are
    uniform over the window (KS on their phase)."""
    lam, on_s, off_s, horizon = 100.0, 0.04, 0.06, 40.0
    params = OnOffParams(rate_hz=lam, on_s=on_s, off_s=off_s, periods="fixed", initially="on", pairs=1,
                         horizon=horizon)
    reqs = OnOffTraffic(params).generate(context(4, duration=horizon))
    c = on_s + off_s
    windows = Counter()
    phases = []
    for r in reqs:
        k = math.floor(r.start / c + 1e-9)
        phase = r.start - k * c
        assert -1e-9 <= phase < on_s + 1e-9, r.start
        windows[k] += 1
        phases.append(phase / on_s)
    assert stats.kstest(phases, "uniform").pvalue > LEVEL
    n_windows = round(horizon / c)  # 400
    counts = Counter(windows.get(k, 0) for k in range(n_windows))
    mu = lam * on_s
    top = 8  # cells 0..7 and 8+ (each expected >= 5 of 400 windows)
    observed = [counts.get(i, 0) for i in range(top)] + [sum(v for i, v in counts.items() if i >= top)]
    pmf = [stats.poisson.pmf(i, mu) for i in range(top)]
    expected = [n_windows * q for q in pmf] + [n_windows * (1 - sum(pmf))]
    assert stats.chisquare(observed, expected).pvalue > LEVEL


def test_onoff_sources_add_up_and_pareto_periods_keep_their_mean():
    """``sources`` independent sources: mean count sources x lam x T x on/(on+off); the ON time of
    exponential alternating periods has variance 2 a b / (a + b)^3 x T per source (rates a, b),
    so the count's standard deviation is known; Pareto periods keep the mean ON fraction."""
    lam, on_s, off_s, horizon, k = 100.0, 0.05, 0.1, 20.0, 5
    q = on_s / (on_s + off_s)
    reqs = OnOffTraffic(OnOffParams(rate_hz=lam, on_s=on_s, off_s=off_s, sources=k, pairs=1,
                                    horizon=horizon)).generate(context(8))
    a, b = 1 / on_s, 1 / off_s
    var = k * (lam * q * horizon + lam**2 * 2 * a * b / (a + b) ** 3 * horizon)
    assert abs(len(reqs) - k * lam * q * horizon) < 5 * math.sqrt(var)
    assert [r.start for r in reqs] == sorted(r.start for r in reqs)
    pareto = OnOffTraffic(OnOffParams(rate_hz=lam, on_s=on_s, off_s=off_s, sources=k, periods="pareto", shape=3.0,
                                      pairs=1, horizon=horizon)).generate(context(8))
    assert abs(len(pareto) / (k * lam * q * horizon) - 1) < 0.15  # heavy-ish tails: a loose bound
    capped = OnOffTraffic(OnOffParams(rate_hz=lam, on_s=on_s, off_s=off_s, sources=k, pairs=1, horizon=horizon,
                                      max_requests=10)).generate(context(8))
    assert capped == reqs[:10]


# --- gravity ---------------------------------------------------------------------------------


def gravity_expected(weights: dict, f) -> dict:
    demand = {(a, b): weights.get(a, 1.0) * weights.get(b, 1.0) * f(grid_km(a, b))
              for a in GRID for b in GRID if a != b}
    total = sum(demand.values())
    return {k: v / total for k, v in demand.items() if v > 0}


@pytest.mark.parametrize("law,f", [
    ({"law": "exponential", "scale_km": 15.0}, lambda d: math.exp(-d / 15.0)),
    ({"law": "power", "alpha": 1.5}, lambda d: d ** -1.5),
])
def test_gravity_pair_counts_follow_the_weighted_distance_law(law, f):
    weights = {"n0_0": 3.0, "n1_1": 0.5, "n2_2": 0.0}
    reqs = GravityTraffic(GravityParams(rate_hz=20000, pairs=1, weights=weights, **law)).generate(context(9))
    assert abs(len(reqs) - 20000) < 5 * math.sqrt(20000)
    counts = Counter((r.src, r.dst) for r in reqs)
    assert not any("n2_2" in pair for pair in counts)  # weight 0: out
    expected = gravity_expected(weights, f)
    keys = sorted(expected)
    n = len(reqs)
    assert min(n * expected[k] for k in keys) > 5
    chi = stats.chisquare([counts.get(k, 0) for k in keys], [n * expected[k] for k in keys])
    assert chi.pvalue > LEVEL, chi


def test_gravity_in_a_run_uses_the_engines_fibre_distances():
    """The engine gives the shortest fibre distance (the grid's Manhattan distance x 10 km)."""
    t = {"model": "gravity", "rate_hz": 40000, "pairs": 1, "law": "power", "alpha": 2.0, "weights": {"n0_0": 4}}
    reqs = generated(scenario(t))
    expected = gravity_expected({"n0_0": 4}, lambda d: d ** -2.0)
    keys = sorted(expected)
    counts = Counter((r.src, r.dst) for r in reqs)
    n = len(reqs)
    # pool the rarest cells so each expects at least 5
    keys.sort(key=lambda k: expected[k])
    obs, exp, acc_o, acc_e = [], [], 0, 0.0
    for k in keys:
        acc_o += counts.get(k, 0)
        acc_e += n * expected[k]
        if acc_e >= 5:
            obs.append(acc_o)
            exp.append(acc_e)
            acc_o, acc_e = 0, 0.0
    exp[-1] += acc_e
    obs[-1] += acc_o
    assert stats.chisquare(obs, exp).pvalue > LEVEL


# --- hotspot ---------------------------------------------------------------------------------


def test_hotspot_fraction_and_uniform_rest():
    hot = ["n1_1", "n0_2"]
    reqs = HotspotTraffic(HotspotParams(rate_hz=10000, pairs=1, hotspots=hot, p_hot=0.3)).generate(context(12))
    n = len(reqs)
    to_hot = [r for r in reqs if r.dst in hot]
    assert stats.binomtest(len(to_hot), n, 0.3).pvalue > LEVEL
    assert all(r.src != r.dst for r in reqs)
    hot_counts = Counter(r.dst for r in to_hot)
    assert stats.chisquare([hot_counts[h] for h in hot]).pvalue > LEVEL  # uniform among the hot spots
    cold = [x for x in GRID if x not in hot]
    cold_counts = Counter(r.dst for r in reqs if r.dst not in hot)
    assert stats.chisquare([cold_counts[c] for c in cold]).pvalue > LEVEL
    # the source: any node but the destination, uniformly
    dst_counts = Counter(r.dst for r in reqs)
    src_counts = Counter(r.src for r in reqs)
    expected = [sum(v for d, v in dst_counts.items() if d != s) / (len(GRID) - 1) for s in GRID]
    assert stats.chisquare([src_counts[s] for s in GRID], expected).pvalue > LEVEL


def test_hotspot_count_draws_its_hot_spots_from_the_stream():
    t = {"model": "hotspot", "rate_hz": 20000, "pairs": 1, "hotspots": 2, "p_hot": 0.9}
    reqs = generated(scenario(t))
    top = Counter(r.dst for r in reqs).most_common(3)
    hot = {top[0][0], top[1][0]}
    assert top[1][1] > 5 * top[2][1]  # two nodes draw 90 %
    assert stats.binomtest(sum(r.dst in hot for r in reqs), len(reqs), 0.9).pvalue > LEVEL
    other = generated(scenario(t, seed=6))
    assert other != reqs


# --- same seed, same requests ----------------------------------------------------------------


@pytest.mark.parametrize("traffic", [
    {"model": "onoff", "rate_hz": 2000, "on_s": 0.005, "off_s": 0.01, "pairs": 2, "priority": [0, 1]},
    {"model": "onoff", "rate_hz": 2000, "on_s": 0.005, "off_s": 0.01, "periods": "pareto", "rate": 10.0,
     "deadline": 0.01, "endpoints": [["n0_0", "n2_2"], ["n0_2", "n2_0"]], "sources": 3},
    {"model": "gravity", "rate_hz": 2000, "pairs": 1, "weights": {"n1_1": 5}},
    {"model": "hotspot", "rate_hz": 2000, "pairs": 1, "hotspots": 2, "p_hot": 0.5, "min_fidelity": 0.6},
])
def test_same_seed_same_requests(traffic):
    a = generated(scenario(traffic))
    assert a == generated(scenario(traffic)) and len(a) > 10
    assert a != generated(scenario(traffic, seed=6))
    assert all(r.src != r.dst for r in a)
    for r in a:
        assert r.min_fidelity == traffic.get("min_fidelity", 0.0)
        if "deadline" in traffic:
            assert r.end == pytest.approx(r.start + traffic["deadline"]) and r.rate == traffic["rate"]
        if "endpoints" in traffic:
            assert [r.src, r.dst] in traffic["endpoints"]


# --- replay ----------------------------------------------------------------------------------

TRACE = """time,src,dst,pairs,rate,min_fidelity,deadline,priority
0.001,n0_0,n2_2,3,,0.8,,
0.0015,n0_2,n2_0,,50.5,,0.02,2

# a comment, and a blank line above
0.0015,n1_1,n0_0,1,,0.5,0.01,-1
0.04,n2_2,n0_0,7,,,,
"""


def write_replay(tmp_path: Path, trace: str, **params) -> Path:
    (tmp_path / "traces").mkdir(exist_ok=True)
    (tmp_path / "traces" / "trace.csv").write_text(trace)
    path = tmp_path / "replay.yaml"
    path.write_text(yaml.safe_dump(scenario({"model": "replay", "file": "traces/trace.csv", **params})))
    return path


def test_replay_reproduces_the_trace_exactly(tmp_path, monkeypatch):
    path = write_replay(tmp_path, TRACE, min_fidelity=0.25, priority=4)
    monkeypatch.chdir(Path(__file__).parent)  # relative to the scenario file, not the working directory
    reqs = generated(path)
    R = qplane.EntanglementRequest
    assert reqs == [
        R(src="n0_0", dst="n2_2", pairs=3, start=0.001, min_fidelity=0.8, priority=4),
        R(src="n0_2", dst="n2_0", rate=50.5, start=0.0015, end=0.0015 + 0.02, min_fidelity=0.25, priority=2),
        R(src="n1_1", dst="n0_0", pairs=1, start=0.0015, end=0.0015 + 0.01, min_fidelity=0.5, priority=-1),
        R(src="n2_2", dst="n0_0", pairs=7, start=0.04, min_fidelity=0.25, priority=4),
    ]
    assert generated(qplane.load_scenario(path, seed=99)) == reqs  # no random draw
    # an absolute path works from anywhere
    sc = scenario({"model": "replay", "file": str(tmp_path / "traces" / "trace.csv")})
    assert [(r.src, r.dst, r.start) for r in generated(sc)] == [(r.src, r.dst, r.start) for r in reqs]


@pytest.mark.parametrize("trace,message", [
    ("time,src,dst,pairs\n0.1,n0_0,n1_1,1\n0.2,n0_0,n1_1,1\n0.3,x,n1_1,1\n",
     "trace.csv line 4: src 'x' is not a node"),
    ("time,src,dst,pairs\n0.1,n0_0,n1_1,abc\n", "trace.csv line 2: pairs 'abc' is not an integer"),
    ("time,src,dst,pairs\n0.2,n0_0,n1_1,1\n0.1,n0_0,n1_1,1\n", "trace.csv line 3: time 0.1 is before"),
    ("time,src,dst,colour\n", "trace.csv line 1: unknown column 'colour'"),
    ("time,src,pairs\n", "trace.csv line 1: the header has no column 'dst'"),
    ("time,src,dst,pairs,rate\n0.1,n0_0,n1_1,1,2\n", "trace.csv line 2: give exactly one of pairs and rate"),
    ("time,src,dst,rate\n0.1,n0_0,n1_1,2\n", "trace.csv line 2: a rate needs a deadline (column or parameter)"),
    ("time,src,dst,pairs,min_fidelity\n0.1,n0_0,n1_1,1,1.5\n", "trace.csv line 2: min_fidelity: Input should be"),
    ("time,src,dst,pairs\n0.1,n0_0,n0_0,1\n", "trace.csv line 2: 'src' and 'dst' must differ"),
    ("time,src,dst,pairs\n0.1,n0_0,n1_1\n", "trace.csv line 2: 3 cells; the header has 4 columns"),
    ("", "traces/trace.csv: empty"),
])
def test_a_bad_trace_names_file_line_and_column(tmp_path, capsys, trace, message):
    from qplane.cli import main

    path = write_replay(tmp_path, trace)
    with pytest.raises(ScenarioError) as exc:
        generated(path)
    assert exc.value.field == "traffic.file" and message in str(exc.value), str(exc.value)
    assert main(["validate", str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "traffic.file: " in err and message in err, err


def test_a_missing_trace_says_where_it_was_looked_for(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(scenario({"model": "replay", "file": "nowhere.csv"})))
    with pytest.raises(ScenarioError, match=r"traffic\.file: nowhere\.csv: no such file \(looked for .*nowhere\.csv\)"):
        generated(path)


# --- bad parameters --------------------------------------------------------------------------


@pytest.mark.parametrize("traffic,field,message", [
    ({"model": "onoff", "rate_hz": 10, "pairs": 1, "on_s": 0.1}, "traffic.off_s", "required"),
    ({"model": "onoff", "rate_hz": 10, "pairs": 1, "on_s": 0.1, "off_s": 0.1, "shape": 2.0}, "traffic",
     "'shape' is the tail index of 'periods: pareto'"),
    ({"model": "onoff", "rate_hz": 10, "pairs": 1, "on_s": 0.1, "off_s": 0.1, "periods": "weibull"},
     "traffic.periods", "'exponential', 'fixed' or 'pareto'"),
    ({"model": "onoff", "rate_hz": 10, "pairs": 1, "on_s": 1e-9, "off_s": 1e-9}, "traffic.on_s", "ON/OFF cycles"),
    ({"model": "onoff", "rate_hz": 10, "pairs": 1, "on_s": 0.1, "off_s": 0.1, "endpoints": [["n0_0", "x"]]},
     "traffic.endpoints.0.1", "not in the topology"),
    ({"model": "gravity", "rate_hz": 10, "pairs": 1, "alpha": 2}, "traffic", "'alpha' is the parameter of 'law: power'"),
    ({"model": "gravity", "rate_hz": 10, "pairs": 1, "weights": {"x": 2}}, "traffic.weights.x", "not in the topology"),
    ({"model": "gravity", "rate_hz": 10, "pairs": 1, "weights": {"n0_0": -1}}, "traffic.weights.n0_0",
     "greater than or equal to 0"),
    ({"model": "gravity", "rate_hz": 10, "pairs": 1, "weights": {n: 0 for n in GRID[1:]}}, "traffic.weights",
     "no demand"),
    ({"model": "hotspot", "rate_hz": 10, "pairs": 1, "hotspots": 12}, "traffic.hotspots", "the topology has 9 nodes"),
    ({"model": "hotspot", "rate_hz": 10, "pairs": 1, "hotspots": ["n0_0", "y"]}, "traffic.hotspots.1",
     "not in the topology"),
    ({"model": "hotspot", "rate_hz": 10, "pairs": 1, "p_hot": 1.5}, "traffic.p_hot", "less than or equal to 1"),
    ({"model": "hotspot", "rate_hz": 10, "pairs": 1, "hotspots": 9, "p_hot": 0.5}, "traffic.hotspots",
     "every node is a hot spot"),
    ({"model": "replay", "file": "t.csv", "colour": "red"}, "traffic.colour", "unknown field"),
    ({"model": "replay"}, "traffic.file", "required"),
])
def test_bad_params_give_one_line_naming_the_field(tmp_path, capsys, traffic, field, message):
    from qplane.cli import main

    with pytest.raises(ScenarioError) as exc:
        generated(scenario(traffic))
    assert exc.value.field == field, str(exc.value)
    assert message in str(exc.value)
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(scenario(traffic)))
    assert main(["validate", str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and f"{field}: " in err and message in err, err


def test_gravity_without_distances_says_so():
    ctx = TrafficContext(rng=Kernel(1).stream("traffic"), nodes=GRID, duration=1.0)
    with pytest.raises(ScenarioError, match="needs the fibre distances"):
        GravityTraffic(GravityParams(rate_hz=10, pairs=1)).generate(ctx)


def test_the_engine_distance_is_the_shortest_fibre_route():
    g = nx.Graph()
    g.add_edge("a", "b", length_km=3.0)
    g.add_edge("b", "c", length_km=4.0)
    g.add_edge("a", "c", length_km=10.0)
    g.add_node("d")
    from qplane_engine.network import Network

    net = Network(g, 2e5)
    assert net.distance_km("a", "c") == 7.0 and net.distance_km("c", "a") == 7.0
    assert net.distance_km("a", "a") == 0.0 and net.distance_km("a", "d") == math.inf
