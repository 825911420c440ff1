"""``qplane new-plugin``: a new plugin package, ready to install and tested, in one command.

:func:`create_plugin` writes a distribution laid out as qplane's own plugins are (and as
``contrib/`` shows): ``pyproject.toml`` (hatchling, the ``qplane`` entry point), ``src/<package>/``
with the component and the ``plugin`` module that registers it, ``tests/`` running the
conformance kit of its kind (:mod:`qplane_devkit.conformance`) plus a test of its own, an
example scenario selecting it by name, and a README. Kinds: ``router``, ``scheduler``,
``purification``, ``backend``, ``application``. The generated package passes its tests as
generated; a user then edits the component.

The templates are package data, ``qplane_devkit/templates/common/*.tmpl`` (the files every
kind has) and ``qplane_devkit/templates/<kind>/*.tmpl`` (``$name``-style placeholders of
:class:`string.Template`; ``$$`` is a literal dollar). This module writes files only where it
is told to and never overwrites a non-empty folder unless asked.
"""

from __future__ import annotations

import keyword
import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from string import Template

from qplane.errors import QPlaneError

KINDS = ("router", "scheduler", "purification", "backend", "application")
NAME_PATTERN = re.compile(r"^[a-z][a-z0-9]*(-[a-z0-9]+)*$")


class ScaffoldError(QPlaneError):
    """``qplane new-plugin`` cannot create the plugin (bad name or kind, folder in the way)."""


@dataclass(frozen=True)
class PluginNames:
    """The names of a new plugin, all derived from the one the user gives."""

    name: str  # component name and entry-point (plugin) name: my-router
    distribution: str  # qplane-my-router
    package: str  # qplane_my_router
    cls: str  # MyRouter (class-name prefix)
    kind: str
    module: str  # the component's module: router, scheduler, ...


def plugin_names(name: str, kind: str) -> PluginNames:
    """Validate ``name`` and ``kind`` and derive the distribution, package and class names."""
    if kind not in KINDS:
        raise ScaffoldError(f"--kind must be one of {', '.join(KINDS)} (got {kind!r})")
    if not NAME_PATTERN.match(name or ""):
        raise ScaffoldError(
            f"plugin name {name!r}: use lower-case letters, digits and single hyphens, starting with a "
            "letter (e.g. my-router)")
    base = name[len("qplane-"):] if name.startswith("qplane-") and len(name) > len("qplane-") else name
    package = "qplane_" + base.replace("-", "_")
    cls = "".join(part.capitalize() for part in base.split("-"))
    if keyword.iskeyword(package) or not package.isidentifier():
        raise ScaffoldError(f"plugin name {name!r} does not make a Python package name")
    return PluginNames(name=name, distribution="qplane-" + base, package=package, cls=cls, kind=kind, module=kind)


def _installed_plugin_names() -> set[str]:
    from importlib import metadata

    from qplane.plugins import ENTRY_POINT_GROUP

    return {ep.name for ep in metadata.entry_points(group=ENTRY_POINT_GROUP)}


def _major_minor(version: str) -> str:
    return ".".join(version.split(".")[:2])


def template_files(names: PluginNames) -> dict[str, str]:
    """The files of a new plugin: path in the package -> template (under ``templates/``)."""
    kind, module = names.kind, names.module
    return {
        "pyproject.toml": "common/pyproject.toml.tmpl",
        "README.md": "common/README.md.tmpl",
        f"src/{names.package}/__init__.py": "common/__init__.py.tmpl",
        f"src/{names.package}/plugin.py": f"{kind}/plugin.py.tmpl",
        f"src/{names.package}/{module}.py": f"{kind}/{module}.py.tmpl",
        f"tests/test_{module}.py": f"{kind}/test_{module}.py.tmpl",
        f"examples/{names.name}.yaml": f"{kind}/example.yaml.tmpl",
    }


def read_template(rel: str) -> str:
    """The text of the template ``rel`` (e.g. ``router/plugin.py.tmpl``), read from the
    package's data (a wheel or an editable checkout alike)."""
    node = resources.files(__package__).joinpath("templates")
    for part in rel.split("/"):
        node = node.joinpath(part)
    return node.read_text(encoding="utf-8")


def create_plugin(name: str, kind: str, directory: str | Path | None = None, *, force: bool = False) -> list[Path]:
    """Write a new plugin package for a component ``name`` of ``kind`` into ``directory``
    (default: ``./qplane-<name>``). Returns the files written. Raises :class:`ScaffoldError`
    when the name or kind is invalid, when an installed plugin already has that name, or when
    ``directory`` exists and is not empty (unless ``force``)."""
    names = plugin_names(name, kind)
    if name in _installed_plugin_names():
        raise ScaffoldError(f"a plugin named {name!r} is installed already; choose another name")
    from qplane.registry import KINDS as REGISTRY_KINDS, Registry

    providers = Registry().providers(kind, name)
    if providers:  # it would work, but every scenario selecting it would have to pin a plugin
        raise ScaffoldError(f"{REGISTRY_KINDS[kind][1]} {name!r} is provided by plugin {providers[0]!r} already; "
                            "choose another name")
    root = Path(directory) if directory is not None else Path(names.distribution)
    if root.exists() and not root.is_dir():
        raise ScaffoldError(f"{root} exists and is not a folder")
    if root.is_dir() and any(root.iterdir()) and not force:
        raise ScaffoldError(f"{root} exists and is not empty (choose another --dir, or --force to write into it)")
    from qplane import __version__ as qplane_version

    from . import __version__ as devkit_version

    values = {
        "name": names.name,
        "dist": names.distribution,
        "package": names.package,
        "cls": names.cls,
        "kind": kind,
        "module": names.module,
        "qplane_req": f"qplane>={_major_minor(qplane_version)}",
        "devkit_req": f"qplane-devkit>={_major_minor(devkit_version)}",
        "description": DESCRIPTIONS[kind],
        "hook": HOOKS[kind],
    }
    rendered = {rel: Template(read_template(template)).substitute(values)
                for rel, template in template_files(names).items()}  # every one, before writing any
    written = []
    for rel, text in rendered.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written


DESCRIPTIONS = {
    "router": "a router for qplane",
    "scheduler": "a scheduler for qplane",
    "purification": "a purification protocol for qplane",
    "backend": "a state backend for qplane",
    "application": "an application for qplane",
}

HOOKS = {
    "router": "qplane_register_routers",
    "scheduler": "qplane_register_schedulers",
    "purification": "qplane_register_purification",
    "backend": "qplane_register_backends",
    "application": "qplane_register_applications",
}
