"""The ``qplane new-plugin``, ``qplane describe`` and ``qplane trace`` commands, registered through
``qplane_register_commands``.

Imports nothing heavy: the registry loads this module on every run; the scaffold and its
templates are read only when the command runs, the conformance kits only by tests."""

from __future__ import annotations

from typing import Any

from qplane.hookspecs import hookimpl


def _add_new_plugin(subparsers: Any) -> None:
    from .cli import add_new_plugin_command

    add_new_plugin_command(subparsers)


def _add_describe(subparsers: Any) -> None:
    from .describe import add_describe_command

    add_describe_command(subparsers)


def _add_trace(subparsers: Any) -> None:
    from .trace import add_trace_command

    add_trace_command(subparsers)


@hookimpl
def qplane_register_commands(register: Any) -> None:
    register("new-plugin", _add_new_plugin, description="write a new plugin package from a template: tested, ready to pip install")
    register("describe", _add_describe, description="show a component's plugin, description and parameters")
    register("trace", _add_trace, description="filter and summarise a protocol-event trace (qplane run --trace FILE)")
