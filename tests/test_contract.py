"""Every first-party plugin, contrib package and interface uses only the plugin contract.

The contract is :mod:`qplane.context` (what a component and an event hook receive, what a
driver may do with a built simulation) plus the public data types it hands out. Two checks:

* **statically**, over the source of every distribution but the core and the engine: imports
  from qplane name only public names of public modules, nothing imports the engine
  (``qplane_engine``), no private name of the core or the engine is touched, and every
  attribute reached through a context (``ctx.sessions.start``, ``self.clock.now``,
  ``twin.sim.context.network``) is a member the contract declares;
* **at run time**, the objects the engine hands out have exactly the declared members, so
  nothing else can be reached through them.
"""

from __future__ import annotations

import ast
import inspect
import typing
from pathlib import Path

import pytest

import qplane
from qplane import context as contract
from qplane.kernel import Kernel
from qplane_engine.sim import Context, Services, Simulation

ROOT = Path(__file__).resolve().parents[1]
#: the core's own distribution and the engine that implements the contract; everything else is
#: held to the contract
CORE = ROOT / "core" / "src" / "qplane"
ENGINE = ROOT / "engine" / "src" / "qplane_engine"
OUTSIDE = sorted(p for pattern in ("plugins/*/src", "backends/*/src", "contrib/*/src", "interfaces/*/src",
                                   "experiment/src", "devkit/src")
                 for p in ROOT.glob(pattern))
#: modules a plugin may import from: contracts, data types, the public API and the tools
PUBLIC_MODULES = {"qplane", "qplane.context", "qplane.hookspecs", "qplane.requests", "qplane.hal",
                  "qplane.network", "qplane.backend", "qplane_physics", "qplane.errors", "qplane.components",
                  "qplane.traffic", "qplane.registry", "qplane.scenario", "qplane.results", "qplane.kernel",
                  "qplane.plugins", "qplane.cli", "qplane.limits", "qplane.describe"}
#: the engine's package: never imported by a plugin


def is_engine(module: str) -> bool:
    return module == "qplane_engine" or module.startswith("qplane_engine.")

PROTOCOLS = {
    "RunContext": contract.RunContext, "Context": contract.Context, "Clock": contract.Clock,
    "NetworkView": contract.NetworkView, "Inventory": contract.Inventory, "Sessions": contract.Sessions,
    "LinkGeneration": contract.LinkGeneration, "Controller": contract.Controller,
    "Services": contract.Services, "RunSettings": contract.RunSettings, "Operator": contract.Operator,
}


def members(cls: type) -> dict[str, str | None]:
    """Declared members of a contract class -> the contract class of the member (or None)."""
    out: dict[str, str | None] = {}
    for klass in reversed(cls.__mro__):
        if klass.__module__ != contract.__name__:
            continue
        for name, ann in getattr(klass, "__annotations__", {}).items():
            out[name] = ann.strip('"') if isinstance(ann, str) and ann.strip('"') in PROTOCOLS else None
        for name, value in vars(klass).items():
            if not name.startswith("_") and (callable(value) or isinstance(value, property)):
                out.setdefault(name, None)
    return out


MEMBERS = {name: members(cls) for name, cls in PROTOCOLS.items()}
#: the northbound service's handle on its simulation (an attribute of its twin)
ROOT_NAMES = {"twin.sim": "Operator", "self.twin.sim": "Operator"}


def protocol_of(annotation: ast.expr | None) -> str | None:
    """The contract class an annotation names (``Context``, ``"RunContext"``, ``contract.Clock``)."""
    if annotation is None:
        return None
    text = annotation.value if isinstance(annotation, ast.Constant) else ast.unparse(annotation)
    name = str(text).rsplit(".", 1)[-1]
    return name if name in PROTOCOLS else None


def core_private_names() -> set[str]:
    names: set[str] = set()
    for path in [*CORE.glob("*.py"), *ENGINE.glob("*.py")]:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.ClassDef)) and node.name.startswith("_"):
                names.add(node.name)
            elif isinstance(node, ast.Attribute) and node.attr.startswith("_") and isinstance(node.ctx, ast.Store):
                names.add(node.attr)
            elif isinstance(node, ast.ClassDef):  # dataclass fields and slots
                for item in node.body:
                    if isinstance(item, ast.AnnAssign) and isinstance(item.target, ast.Name):
                        if item.target.id.startswith("_"):
                            names.add(item.target.id)
    return {n for n in names if not (n.startswith("__") and n.endswith("__"))}


CORE_PRIVATE = core_private_names()


def source_files() -> list[Path]:
    return [p for root in OUTSIDE for p in sorted(root.rglob("*.py"))]


class ContractChecker(ast.NodeVisitor):
    """Walks one module; ``problems`` lists every breach of the contract."""

    def __init__(self, path: Path, own_private: set[str]):
        self.path = path
        self.own_private = own_private
        self.module_types: dict[str, str] = dict(ROOT_NAMES)
        self.class_types: dict[str, str] = {}  # self.<attr> of the class being visited
        self.scopes: list[dict[str, str]] = []  # local names of the functions being visited
        #: attribute name -> contract class, for ``self.<attr>`` bound anywhere in the module
        #: (so ``policy.ctx`` is known from ``self.ctx = context`` in the policy's class)
        self.attr_types: dict[str, str] = {}
        self.problems: list[str] = []

    def lookup(self, text: str) -> str | None:
        if text.startswith("self.") and text in self.class_types:
            return self.class_types[text]
        if self.scopes and text in self.scopes[-1]:
            return self.scopes[-1][text]
        return self.module_types.get(text)

    def bind(self, text: str, kind: str) -> None:
        if text.startswith("self."):
            self.class_types[text] = kind
            if text.count(".") == 1:
                self.attr_types[text[5:]] = kind
        elif self.scopes:
            self.scopes[-1][text] = kind
        else:
            self.module_types[text] = kind

    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        saved, self.class_types = self.class_types, {}
        self.generic_visit(node)
        self.class_types = saved

    def visit_FunctionDef(self, node: ast.FunctionDef) -> None:
        scope = dict(self.scopes[-1]) if self.scopes else {}
        args = node.args
        for arg in args.posonlyargs + args.args + args.kwonlyargs:
            if arg.arg in ("context", "ctx") and arg.annotation is None:
                self.problems.append(f"{self.where(node)}: {node.name}({arg.arg}) is not typed")
            kind = protocol_of(arg.annotation)
            if kind is not None:
                scope[arg.arg] = kind
            else:
                scope.pop(arg.arg, None)
        self.scopes.append(scope)
        self.generic_visit(node)
        self.scopes.pop()

    visit_AsyncFunctionDef = visit_FunctionDef

    def visit_AnnAssign(self, node: ast.AnnAssign) -> None:
        kind = protocol_of(node.annotation) or (self.type_of(node.value) if node.value is not None else None)
        if kind is not None:
            self.bind(ast.unparse(node.target), kind)
        self.generic_visit(node)

    def where(self, node: ast.AST) -> str:
        return f"{self.path.relative_to(ROOT)}:{getattr(node, 'lineno', '?')}"

    def type_of(self, node: ast.AST) -> str | None:
        found = self.lookup(ast.unparse(node))
        if found is not None:
            return found
        if isinstance(node, ast.Attribute):
            owner = self.type_of(node.value)
            if owner is not None:
                return MEMBERS[owner].get(node.attr)
            return self.attr_types.get(node.attr)
        return None

    def visit_Assign(self, node: ast.Assign) -> None:
        kind = self.type_of(node.value)
        if kind is not None:
            for target in node.targets:
                targets = target.elts if isinstance(target, ast.Tuple) else [target]
                for t in targets:
                    self.bind(ast.unparse(t), kind)
        elif isinstance(node.value, ast.Tuple):  # a, b = ctx.clock, ctx.network
            for t, v in zip(getattr(node.targets[0], "elts", []), node.value.elts):
                kind = self.type_of(v)
                if kind is not None:
                    self.bind(ast.unparse(t), kind)
        self.generic_visit(node)

    def visit_Attribute(self, node: ast.Attribute) -> None:
        owner = self.type_of(node.value)
        if owner is not None and node.attr not in MEMBERS[owner]:
            self.problems.append(f"{self.where(node)}: {ast.unparse(node)}: {owner} declares no {node.attr!r}")
        attr = node.attr
        if (attr in CORE_PRIVATE and attr not in self.own_private
                and not (isinstance(node.value, ast.Name) and node.value.id in ("self", "cls"))):
            self.problems.append(f"{self.where(node)}: {ast.unparse(node)}: a private name of the core")
        self.generic_visit(node)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        module = node.module or ""
        if node.level == 0 and is_engine(module):
            self.problems.append(f"{self.where(node)}: imports {module}, not part of the contract")
        if node.level == 0 and (module == "qplane" or module.startswith("qplane.")):
            if module not in PUBLIC_MODULES:
                self.problems.append(f"{self.where(node)}: imports {module}, not part of the contract")
            for alias in node.names:
                if alias.name.startswith("_") and alias.name != "__version__":
                    self.problems.append(f"{self.where(node)}: imports the private {module}.{alias.name}")
        self.generic_visit(node)

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            if is_engine(alias.name):
                self.problems.append(f"{self.where(node)}: imports {alias.name}, not part of the contract")
        self.generic_visit(node)


def own_private_names(path: Path) -> set[str]:
    """Private names the plugin's own package defines (it may use its own privates)."""
    package = next(p for p in path.parents if p.parent.name == "src")
    names: set[str] = set()
    for file in package.rglob("*.py"):
        for node in ast.walk(ast.parse(file.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.ClassDef)) and node.name.startswith("_"):
                names.add(node.name)
            elif (isinstance(node, ast.Attribute) and node.attr.startswith("_") and isinstance(node.ctx, ast.Store)
                  and isinstance(node.value, ast.Name) and node.value.id in ("self", "cls")):
                names.add(node.attr)  # its own objects' attributes, not anyone's it writes into
            elif isinstance(node, ast.Name) and node.id.startswith("_") and isinstance(node.ctx, ast.Store):
                names.add(node.id)
            elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
                names.add(node.target.id)
    return names


@pytest.mark.parametrize("path", source_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_plugin_code_uses_only_the_contract(path: Path) -> None:
    checker = ContractChecker(path, own_private_names(path))
    tree = ast.parse(path.read_text())
    checker.visit(tree)  # first pass: learn which attributes hold a context
    checker.problems.clear()
    checker.visit(tree)
    assert not checker.problems, "\n".join(checker.problems)


def test_the_checker_catches_a_plugin_reaching_into_the_engine(tmp_path: Path) -> None:
    bad = tmp_path / "src" / "bad" / "plugin.py"
    bad.parent.mkdir(parents=True)
    bad.write_text(
        "from qplane_engine.sim import Simulation\n"
        "from qplane.kernel import _Call\n"
        "class S:\n"
        "    def __init__(self, params, context: Context):\n"
        "        self.ctx = context\n"
        "        net = context.network\n"
        "        net.controller\n"                 # not declared by NetworkView
        "        self.ctx.handles\n"               # the engine's, not the contract's
        "        self.ctx.sessions.start\n"        # declared: fine
        "        context.inventory._holders\n"     # not declared
        "        net.nodes['a'].device._memories\n"  # a core-private attribute
    )
    global ROOT
    saved, ROOT = ROOT, tmp_path
    try:
        checker = ContractChecker(bad, set())
        checker.visit(ast.parse(bad.read_text()))
    finally:
        ROOT = saved
    text = "\n".join(checker.problems)
    assert "imports qplane_engine.sim" in text and "private qplane.kernel._Call" in text
    assert "NetworkView declares no 'controller'" in text
    assert "Context declares no 'handles'" in text
    assert "Inventory declares no '_holders'" in text
    assert "_memories: a private name of the core" in text
    assert "sessions.start" not in text


# ------------------------------------------------------------------ at run time

RUN_CONTEXT = set(MEMBERS["RunContext"])


def test_a_component_context_has_exactly_the_declared_members() -> None:
    assert set(Context.__slots__) == set(MEMBERS["Context"])
    assert all(hasattr(Kernel, m) for m in MEMBERS["Clock"])  # the kernel is the clock
    assert {n for n in vars(Services) if not n.startswith("_")} == set(MEMBERS["Services"])


def test_the_engine_implements_every_protocol_it_hands_out() -> None:
    root = Path(__file__).resolve().parents[1] / "examples" / "chain.yaml"
    sim = qplane.build(qplane.load_scenario(root))
    ctx = sim.make_context("scheduler:test")
    for name, value in (("clock", ctx.clock), ("network", ctx.network), ("inventory", ctx.inventory),
                        ("sessions", ctx.sessions), ("link_generation", ctx.link_generation),
                        ("controller", ctx.controller), ("services", ctx.services)):
        protocol = PROTOCOLS[MEMBERS["Context"][name]]
        missing = [m for m in MEMBERS[protocol.__name__] if not hasattr(value, m)]
        assert not missing, f"{name}: {missing}"
    assert ctx.rng is sim.env.stream("scheduler:test")
    assert ctx.link_generation is sim.link_generator
    missing = [m for m in MEMBERS["Operator"] if not hasattr(sim, m)]
    assert not missing and isinstance(sim, Simulation)


def test_services_refuse_a_value_of_the_wrong_type() -> None:
    key = contract.ServiceKey("test.pool", list)
    services = Services()
    services.set(key, [1])
    assert services.get(key) == [1]
    with pytest.raises(TypeError, match="test.pool"):
        services.set(key, {"not": "a list"})
    assert services.pop(key) == [1] and services.get(key) is None


def test_every_factory_and_event_hook_is_typed_with_the_contract() -> None:
    from qplane import hookspecs

    for name, fn in vars(hookspecs).items():
        if not name.startswith("qplane_"):
            continue
        hints = typing.get_type_hints(fn, vars(hookspecs) | vars(contract) | {
            "RequestHandle": qplane.RequestHandle, "DeliveredPair": qplane.DeliveredPair,
            "QuantumLink": __import__("qplane.network").network.QuantumLink,
            "Node": __import__("qplane.network").network.Node})
        for param in inspect.signature(fn).parameters:
            assert hints.get(param) not in (None, typing.Any), f"{name}({param}) is not typed"
