"""The ``qplane agent`` command, registered through ``qplane_register_commands``.

Imports nothing heavy: the registry loads this module on every run."""

from __future__ import annotations

from typing import Any

from qplane.hookspecs import hookimpl


def _add_agent(subparsers: Any) -> None:
    from .agent import add_agent_command

    add_agent_command(subparsers)


@hookimpl
def qplane_register_commands(register: Any) -> None:
    register("agent", _add_agent, description="run a node agent exposing one node's device to a controller")
