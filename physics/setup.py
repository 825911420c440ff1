"""Build of qplane-physics: the package as Python source, plus its hot kernels
(``qplane_physics/_hot.py``) compiled with mypyc into an extension module when it can.

Compilation is an optimization, never a requirement: without mypyc, without a C compiler, or
with ``QPLANE_PURE_PYTHON=1`` in the environment, the build gives the pure-Python package, and
the kernels' source runs instead (the same numbers to the last bit; see ``_hot.py``).
"""

import os
import sys

from setuptools import setup


def compiled_kernels() -> list:
    if os.environ.get("QPLANE_PURE_PYTHON") == "1":
        return []
    try:
        from mypyc.build import mypycify

        extensions = mypycify(["src/qplane_physics/_hot.py"], opt_level="3")
    except Exception as exc:  # mypyc missing or the type check failed: the source runs
        print(f"qplane-physics: hot kernels left as Python source ({exc})", file=sys.stderr)
        return []
    for ext in extensions:
        ext.optional = True  # a failed C build leaves the Python source in place
        # the same floats as the source: no fused multiply-adds (gcc's default on some CPUs)
        ext.extra_compile_args = [*ext.extra_compile_args, "-ffp-contract=off"]
    return extensions


setup(ext_modules=compiled_kernels())
