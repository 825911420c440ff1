"""The distribution as a plugin: ``compare`` and ``sweep`` are registered through
``qplane_register_commands``, and neither the core nor that registration loads the runner or
its heavy libraries."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from qplane.cli import main


pytestmark = pytest.mark.usefixtures("default_plugin_loading")  # see the root conftest.py


def test_the_commands_are_registered_through_the_plugin_hook(capsys):
    assert main(["plugins", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    comps = {(p["name"], c["kind"], c["name"]) for p in doc["plugins"] for c in p["components"]}
    assert {("experiment", "command", "compare"), ("experiment", "command", "sweep")} <= comps


def test_nothing_heavy_is_imported_until_a_command_runs():
    code = (
        "import sys, qplane\n"
        "core = sorted(m for m in sys.modules if m.startswith('qplane_experiment'))\n"
        "from qplane.cli import make_parser\n"
        "from qplane.registry import Registry\n"
        "make_parser(Registry())\n"  # every plugin's commands added: what each `qplane ...` does
        "heavy = sorted({m.split('.')[0] for m in sys.modules} & {'pandas', 'matplotlib', 'scipy', 'tqdm', 'dask'})\n"
        "runner = sorted(m for m in sys.modules if m.startswith('qplane_experiment.') "
        "and m.rsplit('.', 1)[1] not in ('plugin', 'cli'))\n"
        "print(core, heavy, runner)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[] [] []"
