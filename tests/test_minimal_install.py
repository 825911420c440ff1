"""The minimal install: the core, the fidelity backend and the first-party plugins, nothing else.

Built in a fresh virtual environment from the folders (not editable, as a user's ``pip install``
would), it runs the main example with fewer than 25 installed distributions and none of the
tooling's heavy libraries (pandas, matplotlib, scipy, dask, pyarrow, qutip, stim). Where CI
expects it (``QPLANE_EXPECT_COMPILED=1``), the install compiled the physics kernels and the
fidelity backend (mypyc, in pip's build environment: mypy itself is not installed).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MINIMAL = ["core", "engine", "physics", "backends/fidelity", "plugins/topology", "plugins/hardware", "plugins/routing",
           "plugins/scheduling", "plugins/entanglement"]
#: the virtual environment's own installer, not qplane's dependencies
TOOLING = {"pip", "setuptools", "wheel"}


def test_the_minimal_install_runs_the_example_with_fewer_than_25_distributions(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("QPLANE_", "PYTHON", "VIRTUAL_ENV"))}
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, capture_output=True, timeout=300)
    python = venv / "bin" / "python"

    def run(*args: str | Path) -> subprocess.CompletedProcess:
        proc = subprocess.run([str(a) for a in args], env=env, cwd=tmp_path, capture_output=True, text=True,
                              timeout=600)
        assert proc.returncode == 0, f"{args} exited {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
        return proc

    run(python, "-m", "pip", "install", "-q", *(ROOT / p for p in MINIMAL))
    listed = json.loads(run(python, "-m", "pip", "list", "--format=json").stdout)
    names = sorted(d["name"].lower() for d in listed if d["name"].lower() not in TOOLING)
    assert len(names) < 25, names
    assert not {"pandas", "matplotlib", "scipy", "dask", "pyarrow", "qutip", "stim"} & set(names), names

    out = run(venv / "bin" / "qplane", "run", ROOT / "examples" / "chain.yaml", "--json", tmp_path / "r.json").stdout
    results = json.loads((tmp_path / "r.json").read_text())
    assert results["requests"][0]["status"] == "completed" and "completed" in out
    plugins = run(venv / "bin" / "qplane", "plugins").stdout
    assert "experiment" not in plugins and "devkit" not in plugins
    if os.environ.get("QPLANE_EXPECT_COMPILED") == "1":  # (.ci/run) a user's install compiles the hot kernels
        flags = run(python, "-c", "import qplane_physics as p, qplane_backend_fidelity.backend as b; "
                    "print(p.COMPILED, b.COMPILED)").stdout
        assert flags.split() == ["True", "True"], flags
