"""Software versions of an agent and the controller, and whether they are compatible.

An agent reports :class:`~.messages.Versions` in its hello (:func:`local_versions`: the protocol
version it speaks, the qplane core's version, and the version of every installed qplane plugin,
read from the ``qplane`` entry points' distributions without importing them). The controller
(:class:`.hub.AgentHub`) refuses it, with the reason :func:`incompatibility` gives, when

* the protocol's major differs (``v`` already says so for the framing; ``versions.protocol``
  must agree with it);
* the agent's qplane differs from the controller's in major or minor (``0.1.x`` and ``0.1.y``
  agree, ``0.1`` and ``0.2`` do not: before 1.0 a minor release may change behaviour);
* a plugin the controller uses (for the twin of that node) is installed on the agent with
  another major version. A plugin the agent lacks, or one the controller does not use, is not
  checked: the agent executes only the protocol's operations, the physics is the twin's.

A hello without ``versions`` (a protocol 1.0 agent) is not checked; ``GET /agents`` then shows
no versions for it. This module touches no socket.
"""

from __future__ import annotations

import re
from importlib import metadata
from typing import Any

from .messages import PROTOCOL, PROTOCOL_VERSION, VERSION, Versions

_LEADING = re.compile(r"^v?(\d+)(?:\.(\d+))?")


def major_minor(version: str) -> tuple[int, int] | None:
    """``(major, minor)`` of a version such as ``1.2.3``, ``1.2rc1`` or ``1`` (minor 0);
    None when it does not start with a number."""
    m = _LEADING.match(version.strip())
    if m is None:
        return None
    return int(m.group(1)), int(m.group(2) or 0)


def installed_plugins() -> dict[str, str]:
    """Every installed qplane plugin (entry point of group ``qplane``) -> its distribution's
    version; not imported."""
    out: dict[str, str] = {}
    for ep in metadata.entry_points(group="qplane"):
        dist = getattr(ep, "dist", None)
        version = getattr(dist, "version", None) if dist is not None else None
        if version and ep.name not in out:
            out[ep.name] = str(version)
    return dict(sorted(out.items()))


def qplane_version() -> str:
    import qplane

    return str(getattr(qplane, "__version__", "0"))


def local_versions(plugins: dict[str, str] | None = None) -> Versions:
    """This process's versions; ``plugins`` defaults to every installed qplane plugin."""
    return Versions(protocol=PROTOCOL_VERSION, qplane=qplane_version(),
                    plugins=installed_plugins() if plugins is None else plugins)


def protocol_incompatibility(agent: str, controller: str = PROTOCOL_VERSION) -> str | None:
    """Why an agent speaking protocol ``agent`` (MAJOR.MINOR) cannot talk to a controller
    speaking ``controller``; None when the majors match (and are the ``v`` of the framing)."""
    theirs, ours = major_minor(agent), major_minor(controller)
    if theirs is None or ours is None or theirs[0] != ours[0] or theirs[0] != VERSION:
        return (f"incompatible protocol version: the agent speaks {PROTOCOL} {agent}, "
                f"the controller {PROTOCOL} {controller} (the major version must match)")
    return None


def plugins_used(operator: Any, registry: Any) -> dict[str, str]:
    """The plugins providing the components a built scenario selects (``operator``: a
    :class:`qplane.context.Operator`; ``registry``: the :class:`qplane.registry.Registry` it was
    built with) -> their versions as loaded: the twin's physics of every node, the agents'
    nodes included. An agent with another major version of one of them is refused."""
    from qplane.registry import KINDS

    report = getattr(registry.pm, "qplane_load_report", None)
    loaded = report.plugins if report is not None else {}
    used: dict[str, str] = {}
    for kind in KINDS:
        try:
            name = operator.component_name(kind)
        except Exception:  # a kind the scenario does not select (commands, applications)
            continue
        for plugin in registry.providers(kind, name):
            info = loaded.get(plugin)
            if info is not None and info.version:
                used[plugin] = str(info.version)
    return dict(sorted(used.items()))


def incompatibility(agent: Versions | None, controller: Versions) -> str | None:
    """Why an agent reporting ``agent`` cannot serve a controller running ``controller``
    (whose ``plugins`` are the ones it uses), in one line; None when they are compatible."""
    if agent is None:
        return None  # a protocol 1.0 agent: nothing reported, nothing checked
    protocol = protocol_incompatibility(agent.protocol, controller.protocol)
    if protocol is not None:
        return protocol
    theirs, ours = major_minor(agent.qplane), major_minor(controller.qplane)
    if theirs is None or ours is None or theirs != ours:
        return (f"incompatible qplane version: the agent runs qplane {agent.qplane}, the controller "
                f"qplane {controller.qplane} (major.minor must match)")
    bad = []
    for name, version in sorted(controller.plugins.items()):
        other = agent.plugins.get(name)
        if other is None:
            continue
        a, c = major_minor(other), major_minor(version)
        if a is None or c is None or a[0] != c[0]:
            bad.append(f"{name} {other} on the agent, {version} on the controller")
    if bad:
        return f"incompatible plugin versions: {'; '.join(bad)} (the major version must match)"
    return None
