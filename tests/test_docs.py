"""The documents say what the code does (datasette's ``tests/test_docs.py`` idea).

``docs/plugins.md`` names every hook, every component kind and every member of the plugin
contract; ``docs/design.md`` exists; and no file of the project points outside the repository.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from qplane import context as contract
from qplane import hookspecs
from qplane.registry import KINDS

ROOT = Path(__file__).resolve().parents[1]
PLUGINS_MD = (ROOT / "docs" / "plugins.md").read_text()
HOOKS = sorted(n for n, f in vars(hookspecs).items() if hasattr(f, f"{hookspecs.PROJECT}_spec"))


@pytest.mark.parametrize("hook", HOOKS)
def test_plugins_md_names_every_hook(hook: str) -> None:
    assert f"`{hook}" in PLUGINS_MD, f"docs/plugins.md does not document {hook}"


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_plugins_md_names_every_component_kind(kind: str) -> None:
    assert f"| `{kind}` |" in PLUGINS_MD, f"docs/plugins.md has no row for the kind {kind!r}"


@pytest.mark.parametrize("group", ["clock", "network", "inventory", "sessions", "link_generation", "controller",
                                   "services", "settings", "rng", "component", "best_case_fidelity"])
def test_plugins_md_documents_the_contract(group: str) -> None:
    assert f"`context.{group}" in PLUGINS_MD
    for protocol in (contract.Clock, contract.Inventory, contract.Sessions, contract.Services):
        for name in (n for n in vars(protocol) if not n.startswith("_")):
            assert f"`{name}" in PLUGINS_MD, f"docs/plugins.md does not name {protocol.__name__}.{name}"


def test_the_repository_carries_its_design_document() -> None:
    text = (ROOT / "docs" / "design.md").read_text()
    for heading in ("plugin contract", "physics", "results"):
        assert re.search(heading, text, re.I), heading


def test_no_file_points_outside_the_repository() -> None:
    files = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
    outside = re.compile(r"\.\./shared|shared folder|DESIGN\.md|DESIGN order")
    hits = [f"{f}:{i}" for f in files if f.endswith((".py", ".md", ".toml", ".yaml", ".txt", ".tmpl", ".json"))
            and f != "tests/test_docs.py"
            for i, line in enumerate((ROOT / f).read_text(errors="replace").splitlines(), 1) if outside.search(line)]
    assert not hits, hits
