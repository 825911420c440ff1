"""``qplane new-plugin NAME --kind KIND``: the plugin template.

Each kind generates a package that passes its own tests out of the box (here on ``sys.path``;
the project's ``tests/test_contrib_install.py`` installs them with pip into a fresh environment,
next to a regular (wheel) install of qplane-devkit, and runs them again), registers its
component under NAME, and ships an example scenario selecting it.
"""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from qplane.cli import main
from qplane.registry import Registry
from qplane.plugins import make_plugin_manager
from qplane_devkit.scaffold import KINDS, ScaffoldError, create_plugin, plugin_names, template_files

REGISTRY_KIND = {"router": "router", "scheduler": "scheduler", "purification": "purification",
                 "backend": "backend", "application": "application"}


pytestmark = pytest.mark.usefixtures("default_plugin_loading")  # see the root conftest.py


def test_names_are_derived_from_the_one_given():
    n = plugin_names("fast-swap", "router")
    assert (n.name, n.distribution, n.package, n.cls) == ("fast-swap", "qplane-fast-swap", "qplane_fast_swap", "FastSwap")
    n = plugin_names("qplane-lab2", "backend")  # no qplane-qplane-lab2
    assert (n.name, n.distribution, n.package, n.cls) == ("qplane-lab2", "qplane-lab2", "qplane_lab2", "Lab2")


@pytest.mark.parametrize("name", ["", "MyRouter", "my_router", "-x", "x-", "a--b", "2fast", "my router"])
def test_bad_names_are_refused(name):
    with pytest.raises(ScaffoldError, match="lower-case letters"):
        plugin_names(name, "router")


def test_bad_kind_and_taken_names_and_busy_folders_are_refused(tmp_path):
    with pytest.raises(ScaffoldError, match="--kind must be one of router, scheduler"):
        create_plugin("x", "swapper")
    with pytest.raises(ScaffoldError, match="a plugin named 'routing' is installed already"):
        create_plugin("routing", "router")
    with pytest.raises(ScaffoldError, match="scheduler 'fifo' is provided by plugin 'scheduling' already"):
        create_plugin("fifo", "scheduler")
    create_plugin("fifo", "router", tmp_path / "fifo")  # a router may be called fifo: names are per kind
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "notes.txt").write_text("mine")
    with pytest.raises(ScaffoldError, match="busy exists and is not empty"):
        create_plugin("x", "router", tmp_path / "busy")
    files = create_plugin("x", "router", tmp_path / "busy", force=True)
    assert (tmp_path / "busy" / "notes.txt").read_text() == "mine" and len(files) == 7


def test_cli_creates_the_package_and_says_what_next(tmp_path, capsys):
    assert main(["new-plugin", "my-app", "--kind", "application"]) == 0
    out = capsys.readouterr().out
    root = tmp_path / "qplane-my-app"
    assert out.splitlines()[0] == ("created qplane-my-app/: distribution qplane-my-app, package qplane_my_app, "
                                   "application 'my-app' (7 files)")
    for rel in ("pyproject.toml", "README.md", "src/qplane_my_app/__init__.py", "src/qplane_my_app/plugin.py",
                "src/qplane_my_app/application.py", "tests/test_application.py", "examples/my-app.yaml"):
        assert (root / rel).is_file(), rel
        assert f"  {rel}" in out
    assert "pip install -e qplane-my-app" in out and "pytest qplane-my-app/tests" in out

    assert main(["new-plugin", "my-app", "--kind", "application"]) == 2
    assert "exists and is not empty" in capsys.readouterr().err
    assert main(["new-plugin", "Bad", "--kind", "router"]) == 2
    assert capsys.readouterr().err.startswith("qplane: error: plugin name 'Bad': use lower-case letters")
    with pytest.raises(SystemExit) as exc:  # argparse's own one-line error
        main(["new-plugin", "ok", "--kind", "teleporter"])
    assert exc.value.code == 2
    assert "invalid choice: 'teleporter'" in capsys.readouterr().err
    assert main(["plugins"]) == 0  # the core's `plugins` still lists the plugins
    assert "new-plugin" in capsys.readouterr().out  # among them this one's command


def test_every_template_is_package_data_and_used():
    import qplane_devkit

    folder = Path(qplane_devkit.__file__).parent / "templates"
    on_disk = {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()}
    used = {t for kind in KINDS for t in template_files(plugin_names("x", kind)).values()}
    assert on_disk == used


def test_the_plugin_module_imports_nothing_heavy():
    # qplane loads it on every command: the scaffold and the kits only when asked for
    code = ("import sys, qplane_devkit.plugin; "
            "assert not [m for m in sys.modules if m.startswith('qplane_devkit.') and m != 'qplane_devkit.plugin'], "
            "sorted(sys.modules)")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


@pytest.mark.parametrize("kind", KINDS)
def test_generated_package_is_a_plugin_of_its_kind(tmp_path, monkeypatch, kind):
    name = f"t-{kind}"
    create_plugin(name, kind, tmp_path / name)
    meta = tomllib.loads((tmp_path / name / "pyproject.toml").read_text())
    package = f"qplane_t_{kind}"
    assert meta["project"]["name"] == f"qplane-t-{kind}"
    assert meta["project"]["entry-points"]["qplane"] == {name: f"{package}.plugin"}
    assert meta["build-system"]["build-backend"] == "hatchling.build"
    assert meta["tool"]["hatch"]["build"]["targets"]["wheel"]["packages"] == [f"src/{package}"]
    assert any(d.startswith("qplane>=") for d in meta["project"]["dependencies"])
    assert any(d.startswith("qplane-devkit>=") for d in meta["project"]["optional-dependencies"]["test"])

    monkeypatch.syspath_prepend(str(tmp_path / name / "src"))
    plugin = importlib.import_module(f"{package}.plugin")
    registry = Registry(make_plugin_manager(extra_plugins=[plugin]))
    assert registry.errors == {}
    comp = registry.get(REGISTRY_KIND[kind], name)
    assert comp.description and comp.params.model_json_schema()


@pytest.mark.parametrize("kind", KINDS)
def test_generated_package_passes_its_own_tests(tmp_path, kind):
    name = f"demo-{kind}"
    root = tmp_path / name
    create_plugin(name, kind, root)
    env = {k: v for k, v in os.environ.items() if not k.startswith("QPLANE_")}
    env["PYTHONPATH"] = str(root / "src")  # importable, not installed: the kits register it by hand
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"], cwd=root, env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    assert " passed" in proc.stdout and "skipped" not in proc.stdout and "error" not in proc.stdout.lower()
