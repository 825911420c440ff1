"""qplane-devkit: what a plugin author needs beside the core.

* :mod:`qplane_devkit.conformance` — the conformance kits (one per kind of component) and the
  helpers they are built from, for a plugin's tests;
* :mod:`qplane_devkit.scaffold` — ``qplane new-plugin NAME --kind KIND``: a new plugin package,
  tested and ready to install, from the templates in ``qplane_devkit/templates``;
* :mod:`qplane_devkit.plugin` — the qplane plugin module that registers the command.

Importing this package imports nothing else: qplane loads the plugin module on every run.
"""

__version__ = "0.1.0"
