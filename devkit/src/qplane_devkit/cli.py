"""The ``qplane new-plugin NAME --kind KIND [--dir DIR] [--force]`` command.

Added to qplane's command line by :mod:`qplane_devkit.plugin` (hook ``qplane_register_commands``).
Bad input raises :class:`~qplane_devkit.scaffold.ScaffoldError`, a :class:`qplane.errors.QPlaneError`:
the CLI prints it as one line, ``qplane: error: ...``, and exits 2; argparse's own errors (an
unknown ``--kind``) read the same.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from .scaffold import KINDS


def add_new_plugin_command(subparsers: Any) -> None:
    """Add ``new-plugin`` to the ``qplane`` command's sub-parsers."""
    p = subparsers.add_parser("new-plugin",
                              help="create a new plugin package (tested, ready to pip install) from a template")
    p.add_argument("name", help="the plugin's and its component's name, e.g. my-router")
    p.add_argument("--kind", required=True, choices=KINDS, help="the kind of component it provides")
    p.add_argument("--dir", dest="directory", metavar="DIR", help="where to write it (default: ./qplane-NAME)")
    p.add_argument("--force", action="store_true", help="write into DIR even when it is not empty")
    p.set_defaults(func=cmd_new_plugin)


def cmd_new_plugin(args: argparse.Namespace) -> int:
    from .scaffold import create_plugin, plugin_names

    files = create_plugin(args.name, args.kind, args.directory, force=args.force)
    names = plugin_names(args.name, args.kind)
    root = Path(args.directory) if args.directory else Path(names.distribution)
    print(f"created {root}/: distribution {names.distribution}, package {names.package}, "
          f"{args.kind} {args.name!r} ({len(files)} files)")
    for f in files:
        print(f"  {f.relative_to(root)}")
    print("next:")
    print(f"  pip install -e {root}          # then `qplane plugins` lists {args.name}")
    article = "an" if args.kind[0] in "aeiou" else "a"
    print(f"  pytest {root}/tests            # the conformance kit for {article} {args.kind}, and its own tests")
    print(f"  qplane run {root}/examples/{args.name}.yaml")
    return 0
