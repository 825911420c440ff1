"""Statistics for experiments: means with Student-t confidence intervals, the quantiles from
:data:`scipy.stats.t`. Used by :mod:`qplane_experiment.results`; nothing here knows about
networks."""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import Sequence

CONFIDENCE = 0.95


@functools.lru_cache(maxsize=256)
def t_quantile(p: float, df: float) -> float:
    """Quantile of Student's t distribution with ``df`` degrees of freedom (``scipy.stats.t.ppf``)."""
    if not 0.0 < p < 1.0 or df <= 0:
        raise ValueError(f"t_quantile needs 0 < p < 1 and df > 0 (got p={p}, df={df})")
    from scipy import stats  # on first use: the workers of a process pool or Dask import this module too

    return float(stats.t.ppf(p, df))


@dataclass(frozen=True)
class Estimate:
    """Mean of ``n`` values with its standard deviation and a Student-t confidence interval
    (``None`` bounds with fewer than two values)."""

    n: int
    mean: float | None
    sd: float | None
    ci_low: float | None
    ci_high: float | None

    @property
    def excludes_zero(self) -> bool:
        return self.ci_low is not None and self.ci_high is not None and (self.ci_low > 0 or self.ci_high < 0)


def mean_ci(values: Sequence[float], confidence: float = CONFIDENCE) -> Estimate:
    """Mean and ``confidence`` interval ``mean ± t_{(1+c)/2, n-1} · sd / sqrt(n)``."""
    xs = [float(v) for v in values if v is not None and not math.isnan(v)]
    n = len(xs)
    if n == 0:
        return Estimate(0, None, None, None, None)
    mean = math.fsum(xs) / n
    if n < 2:
        return Estimate(1, mean, None, None, None)
    sd = math.sqrt(math.fsum((x - mean) ** 2 for x in xs) / (n - 1))
    half = t_quantile(0.5 + confidence / 2.0, n - 1) * sd / math.sqrt(n)
    return Estimate(n, mean, sd, mean - half, mean + half)
