"""The service's memory stays flat under an unending rate request (issue 14): a short run of
``bench/soak.py`` — ``qplane serve --speed max`` in a subprocess, a ``rate: 1e7`` request, its
resident memory sampled — bounded to about 25 wall seconds."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

SOAK = Path(__file__).resolve().parents[3] / "bench" / "soak.py"


@pytest.mark.skipif(not SOAK.exists(), reason="needs the repository's bench/soak.py")
def test_memory_stays_flat_and_shutdown_is_quick_under_an_unending_rate_request() -> None:
    r = subprocess.run([sys.executable, str(SOAK), "--duration", "18", "--warmup", "6", "--interval", "2",
                        "--max-growth-mb", "10", "--stream"], capture_output=True, text=True, timeout=55)
    lines = [json.loads(line) for line in r.stdout.splitlines() if line.startswith("{")]
    assert lines and lines[-1].get("summary"), (r.stdout, r.stderr)
    summary = lines[-1]
    # enough pairs after the warm-up that keeping them (~780 bytes each before the fix) would show
    assert summary["pairs_after_warmup"] >= 25_000, summary
    assert summary["growth_after_warmup_mb"] < 10, summary
    assert summary["shutdown_s"] < 2.0 and summary["exit_code"] == 0, summary
    first, last = summary["get_bytes_first_last"]
    assert abs(last - first) < 40, summary  # the request's state does not grow with its pairs
    assert summary["stream"].get("pair", 0) > 25_000 and "error" not in summary["stream"], summary
    assert r.returncode == 0, r.stdout
