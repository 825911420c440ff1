"""The ``qplane serve`` command, registered through ``qplane_register_commands``.

Imports nothing heavy: the registry loads this module on every run; FastAPI and uvicorn are
imported only when the command runs."""

from __future__ import annotations

from typing import Any

from qplane.hookspecs import hookimpl


def _add_serve(subparsers: Any) -> None:
    from .service import add_serve_command

    add_serve_command(subparsers)


@hookimpl
def qplane_register_commands(register: Any) -> None:
    register("serve", _add_serve, description="serve the control plane over HTTP, the scenario's network as its digital twin")
