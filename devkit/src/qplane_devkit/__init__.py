"""qplane-devkit: what a plugin author needs beside the core.

* :mod:`qplane_devkit.conformance` — the conformance kits (one per kind of component) and the
  helpers they are built from, for a plugin's tests.

Importing this package imports nothing else.
"""

__version__ = "0.1.0"
