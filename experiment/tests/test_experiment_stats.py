"""The statistics and bookkeeping under ``qplane compare`` / ``qplane sweep``: the Student-t
quantile (SciPy's) against tables and closed forms, confidence intervals, run seeds, per-run
metrics and the progress bar."""

from __future__ import annotations

import io
import math

import pytest

from qplane_experiment.metrics import run_metrics
from qplane_experiment.plan import derive_seeds
from qplane_experiment.progress import Progress
from qplane_experiment.stats import mean_ci, t_quantile

# two-sided 95% quantiles t_{0.975, df} from statistical tables (10 digits)
T_975 = {1: 12.70620474, 2: 4.302652730, 3: 3.182446305, 5: 2.570581836, 7: 2.364624252,
         10: 2.228138852, 30: 2.042272456, 100: 1.983971519, 1000: 1.962339081}


@pytest.mark.parametrize("df,expected", sorted(T_975.items()))
def test_t_quantile_matches_tables(df, expected):
    assert t_quantile(0.975, df) == pytest.approx(expected, rel=1e-8)
    assert t_quantile(0.025, df) == pytest.approx(-expected, rel=1e-8)


def test_t_quantile_matches_the_closed_forms():
    """df = 1 is the Cauchy distribution, tan(pi (p - 1/2)); df = 2 has (2p - 1) / sqrt(2p(1 - p))."""
    for p in (0.5, 0.6, 0.9, 0.95, 0.975, 0.995, 0.9995, 0.01):
        assert t_quantile(p, 1) == pytest.approx(math.tan(math.pi * (p - 0.5)), rel=1e-9, abs=1e-12), p
        assert t_quantile(p, 2) == pytest.approx((2 * p - 1) / math.sqrt(2 * p * (1 - p)), rel=1e-9, abs=1e-12), p


def test_t_quantile_rejects_nonsense():
    with pytest.raises(ValueError):
        t_quantile(1.0, 3)
    with pytest.raises(ValueError):
        t_quantile(0.9, 0)


def test_mean_ci_by_hand():
    xs = [1.0, 2.0, 3.0, 4.0]
    e = mean_ci(xs)
    sd = math.sqrt(sum((x - 2.5) ** 2 for x in xs) / 3)
    half = T_975[3] * sd / 2.0
    assert (e.n, e.mean, e.sd) == (4, 2.5, pytest.approx(sd))
    assert e.ci_low == pytest.approx(2.5 - half) and e.ci_high == pytest.approx(2.5 + half)
    assert e.excludes_zero
    assert not mean_ci([-1.0, 1.0, -2.0, 2.5]).excludes_zero


def test_mean_ci_degenerate_cases():
    assert mean_ci([]).mean is None
    one = mean_ci([3.0])
    assert one.n == 1 and one.mean == 3.0 and one.ci_low is None and not one.excludes_zero
    same = mean_ci([0.0, 0.0, 0.0])  # identical paired runs: difference exactly 0, interval [0, 0]
    assert (same.ci_low, same.ci_high) == (0.0, 0.0) and not same.excludes_zero
    assert mean_ci([1.0, None, float("nan"), 3.0]).n == 2  # missing values are left out


def test_seeds_are_deterministic_distinct_and_extend():
    a = derive_seeds(7, 8)
    assert a == derive_seeds(7, 8)
    assert len(set(a)) == 8 and all(0 <= s < 2**32 for s in a)
    assert derive_seeds(7, 3) == a[:3]  # more seeds extend an experiment, they do not reshuffle it
    assert not set(derive_seeds(8, 8)) & set(a)  # neighbouring base seeds do not share runs


def _request(**kw):
    base = {"status": "completed", "delivered": 0, "pairs_requested": None, "rate_requested_hz": None,
            "rate_hz": None, "fidelity_mean": None, "fidelity_estimated_mean": None, "latency_mean_s": None,
            "paths": None}
    base.update(kw)
    return base


def test_run_metrics_aggregate_over_requests():
    results = {
        "links": [{"a": "a", "b": "b", "length_km": 10.0}, {"a": "b", "b": "c", "length_km": 30.0}],
        "requests": [
            _request(delivered=100, pairs_requested=100, rate_hz=1000.0, fidelity_mean=0.9,
                     fidelity_estimated_mean=0.91, latency_mean_s=0.001, paths=[["a", "b", "c"]]),
            _request(delivered=300, pairs_requested=600, status="timed_out", rate_hz=200.0, fidelity_mean=0.7,
                     fidelity_estimated_mean=0.71, latency_mean_s=0.003, paths=[["a", "b"]]),
            _request(status="no_path"),  # never served: rate 0, served 0, no pairs to weigh
            _request(delivered=40, rate_requested_hz=50.0, rate_hz=40.0, fidelity_mean=0.8,
                     fidelity_estimated_mean=0.8, latency_mean_s=0.002, paths=[["b", "c"]]),
        ],
    }
    m = run_metrics(results)
    assert m["rate_hz"] == pytest.approx((1000 + 200 + 0 + 40) / 4)
    assert m["fidelity_mean"] == pytest.approx((100 * 0.9 + 300 * 0.7 + 40 * 0.8) / 440)  # pairs-weighted
    assert m["latency_mean_s"] == pytest.approx((100 * 0.001 + 300 * 0.003 + 40 * 0.002) / 440)
    assert m["served_fraction"] == pytest.approx((1.0 + 0.5 + 0.0 + 0.8) / 4)
    assert m["completed_fraction"] == pytest.approx(2 / 4)
    assert m["delivered"] == 440
    assert m["distance_km"] == pytest.approx((40 + 10 + 30) / 3)


def test_run_metrics_without_pairs():
    m = run_metrics({"requests": [_request(status="timed_out", pairs_requested=5, rate_hz=0.0)], "links": []})
    assert m["fidelity_mean"] is None and m["rate_hz"] == 0.0 and m["served_fraction"] == 0.0


def test_progress_bar_only_on_a_terminal_unless_forced():
    quiet = io.StringIO()
    bar = Progress(10, stream=quiet)
    assert not bar.enabled  # a StringIO is not a TTY
    for ok in (True, False, True):
        bar.advance(ok)
    bar.note("qplane: run 2 failed")  # failures are reported whether or not the bar shows
    bar.close()
    assert quiet.getvalue() == "qplane: run 2 failed\n"

    shown = io.StringIO()
    bar = Progress(10, enabled=True, stream=shown)
    for ok in [True] * 9 + [False]:
        bar.advance(ok)
    bar.close()
    text = shown.getvalue()
    assert "10/10 runs" in text and "1 failed" in text and "elapsed" in text and "left" in text
    assert text.endswith("\n")
