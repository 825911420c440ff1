"""Build of qplane-backend-fidelity: the package as Python source, plus its pairs and
operations (``qplane_backend_fidelity/states.py``) compiled with mypyc when it can.

Compilation is an optimization, never a requirement: without mypyc, without a C compiler, or
with ``QPLANE_PURE_PYTHON=1`` in the environment, the build gives the pure-Python package
(the same numbers; see ``states.py``). The physics distribution builds its kernels the same way.
"""

import os
import sys

from setuptools import setup

extensions = []
if os.environ.get("QPLANE_PURE_PYTHON") != "1":
    try:
        from mypyc.build import mypycify

        # qplane and qplane_physics are not in the build's environment: their names are untyped
        extensions = mypycify(["--ignore-missing-imports", "src/qplane_backend_fidelity/states.py"], opt_level="3")
    except Exception as exc:  # mypyc missing or the type check failed: the source runs
        print(f"qplane-backend-fidelity: states left as Python source ({exc})", file=sys.stderr)
for ext in extensions:
    ext.optional = True  # a failed C build leaves the Python source in place
    ext.extra_compile_args = [*ext.extra_compile_args, "-ffp-contract=off"]  # no fused multiply-adds, as the source

setup(ext_modules=extensions)
