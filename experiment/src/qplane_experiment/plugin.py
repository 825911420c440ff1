"""The ``qplane compare``, ``qplane sweep`` and ``qplane draw`` commands, registered through
``qplane_register_commands``.

Imports nothing heavy: the registry loads this module on every run (and in every worker of an
experiment); the runner, pandas, matplotlib and SciPy are imported only when a command runs."""

from __future__ import annotations

from typing import Any

from qplane.hookspecs import hookimpl


def _add_compare(subparsers: Any) -> None:
    from .cli import add_compare

    add_compare(subparsers)


def _add_sweep(subparsers: Any) -> None:
    from .cli import add_sweep

    add_sweep(subparsers)


def _add_draw(subparsers: Any) -> None:
    from .cli import add_draw

    add_draw(subparsers)


@hookimpl
def qplane_register_commands(register: Any) -> None:
    register("compare", _add_compare, description="run arms head to head on the same seeds, with paired differences")
    register("sweep", _add_sweep, description="run a parameter study: every list-valued field's values x the seeds")
    register("draw", _add_draw, description="draw a scenario's topology, or a results file's link use and memory occupancy")
