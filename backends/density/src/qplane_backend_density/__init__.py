"""The density-matrix state backend of qplane (qutip).

``DensityBackend`` is imported on first use: importing this package (which discovering the
plugin does) does not import qutip.
"""

from __future__ import annotations

from typing import Any

from .params import CAPABILITIES, DensityParams

__all__ = ["CAPABILITIES", "DensityBackend", "DensityParams"]


def __getattr__(name: str) -> Any:
    if name == "DensityBackend":
        from .backend import DensityBackend

        return DensityBackend
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
