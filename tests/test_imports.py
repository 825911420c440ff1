"""No import circle anywhere, and ``import qplane`` stays small.

Every module of every first-party distribution is a node; an edge is an import of another
first-party module, wherever it is written (a lazy import inside a function counts: it only
hides the circle), except under ``if TYPE_CHECKING:`` (annotations only).
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import networkx as nx

ROOT = Path(__file__).resolve().parents[1]
SOURCES = [p for pattern in ("core/src", "engine/src", "physics/src", "plugins/*/src", "backends/*/src", "contrib/*/src",
                             "interfaces/*/src", "experiment/src", "devkit/src") for p in sorted(ROOT.glob(pattern))]


def modules() -> dict[str, Path]:
    found: dict[str, Path] = {}
    for src in SOURCES:
        for path in src.rglob("*.py"):
            parts = list(path.relative_to(src).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            found[".".join(parts)] = path
    return found


def _type_checking_only(node: ast.If) -> bool:
    return "TYPE_CHECKING" in ast.unparse(node.test)


def imports_of(name: str, path: Path, known: set[str]) -> set[str]:
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out: set[str] = set()

    def visit(node: ast.AST) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _type_checking_only(child):
                for sub in child.orelse:
                    visit(sub)
                continue
            if isinstance(child, ast.Import):
                out.update(a.name for a in child.names)
            elif isinstance(child, ast.ImportFrom):
                base = child.module or ""
                if child.level:
                    anchor = package.split(".")
                    anchor = anchor[: len(anchor) - (child.level - 1)]
                    base = ".".join(anchor + ([base] if base else []))
                out.add(base)
                out.update(f"{base}.{a.name}" for a in child.names)  # `from . import physics`
            visit(child)

    visit(ast.parse(path.read_text()))
    return {m for m in out if m in known and m != name}


def import_graph() -> nx.DiGraph:
    mods = modules()
    graph = nx.DiGraph()
    graph.add_nodes_from(mods)
    for name, path in mods.items():
        for target in imports_of(name, path, set(mods)):
            # importing a.b.c runs a and a.b too, but those edges are the package's own business:
            # a package importing its submodules is no circle
            if not name.startswith(target + "."):
                graph.add_edge(name, target)
    return graph


def test_no_import_circle_anywhere() -> None:
    graph = import_graph()
    assert len(graph) > 50  # every distribution was found
    circles = [sorted(c) for c in nx.strongly_connected_components(graph) if len(c) > 1]
    assert not circles, f"import circles: {circles}"


def test_the_check_sees_a_circle_through_a_lazy_import(tmp_path: Path) -> None:
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("from .b import x\n")
    (pkg / "b.py").write_text("def x():\n    from .a import y\n")
    mods = {"pkg": pkg / "__init__.py", "pkg.a": pkg / "a.py", "pkg.b": pkg / "b.py"}
    edges = {(n, t) for n, p in mods.items() for t in imports_of(n, p, set(mods)) if not n.startswith(t + ".")}
    assert ("pkg.a", "pkg.b") in edges and ("pkg.b", "pkg.a") in edges


def test_import_qplane_loads_no_tooling_nor_plugin() -> None:
    code = ("import sys, qplane; heavy = ('pandas', 'matplotlib', 'scipy', 'qplane_experiment', 'qplane_devkit', "
            "'qutip', 'stim', 'qplane_routing'); print([m for m in heavy if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
