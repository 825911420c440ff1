"""``qplane.build`` and ``qplane.run`` hand a scenario to the engine (qplane-engine), imported on
first use: ``import qplane`` alone never loads it, and without it a run ends in one line that
says what to install."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import qplane
from qplane.errors import QPlaneError

CHAIN = Path(__file__).resolve().parents[2] / "examples" / "chain.yaml"


def test_without_the_engine_a_run_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "qplane_engine", None)  # as if it were not installed
    with pytest.raises(QPlaneError, match=r"needs the engine: pip install qplane-engine"):
        qplane.run(CHAIN)


def test_the_cli_says_it_in_one_line_and_exits_2(monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    from qplane.cli import main

    monkeypatch.setitem(sys.modules, "qplane_engine", None)
    assert main(["validate", str(CHAIN)]) == 2
    assert capsys.readouterr().err.strip() == "qplane: error: running a scenario needs the engine: pip install qplane-engine"


def test_importing_qplane_does_not_load_the_engine() -> None:
    code = "import sys, qplane; print(sorted(m for m in sys.modules if m.startswith('qplane_engine')))"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip() == "[]"
