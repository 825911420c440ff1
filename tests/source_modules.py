"""Loading a Python file as a module of its own (a test helper, on the tests' path).

The compiled-kernel tests load the *source* of a module that is normally imported compiled
(``qplane_physics._hot``, ``qplane_backend_fidelity.states``) to run both side by side, and the
benchmark tests load a script of ``bench/`` that is not a package.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType


def load_source(path: Path, name: str) -> ModuleType:
    """The module executed from ``path`` under ``name`` (not registered in ``sys.modules``)."""
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
