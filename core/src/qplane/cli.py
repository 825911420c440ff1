"""The ``qplane`` command line.

Every user error ends with one line on stderr, ``qplane: error: <file>: <field>: <what>``, and
exit code 2; a traceback is shown only with ``--debug``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any, Sequence

from .errors import PluginError, QPlaneError, RunInterrupted, ScenarioError
from .results import counted, summary_table, table  # noqa: F401 - table: the devkit's tables too

EXIT_OK, EXIT_FAIL, EXIT_USAGE = 0, 1, 2


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # argparse's own errors: one line, exit 2
        self.exit(EXIT_USAGE, f"qplane: error: {message}\n")


def version_text(registry: Any) -> str:
    """``qplane --version``: qplane's version and every installed plugin's."""
    from . import __version__
    from .plugins import load_errors, plugin_infos

    lines = [f"qplane {__version__} (Python {sys.version.split()[0]})", "plugins:"]
    lines += [f"  {n}: {i.distribution or '-'} {i.version or 'version unknown'}" for n, i in sorted(plugin_infos(registry.pm).items())]
    lines += [f"  {n}: failed to load: {e}" for n, e in sorted(load_errors(registry.pm).items())]
    return "\n".join(lines)


def _add_run(sub: Any) -> None:
    p = sub.add_parser("run", help="run a scenario and print a summary table")
    p.add_argument("scenario", help="scenario file (YAML or JSON)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="PATH=VALUE",
                   help="override a field by dotted path, e.g. requests.0.src=n2 (repeatable)")
    p.add_argument("--seed", type=int, help="replace the scenario's seed")
    p.add_argument("--backend", help="replace the scenario's state backend")
    p.add_argument("--name", help="label of the run and its results file (default: the scenario's name, "
                   "with the overrides in brackets: chain-5[topology.nodes=9])")
    p.add_argument("--json", dest="json_out", metavar="OUT",
                   help="results JSON path (default: <label>.results.json in the current folder, the label "
                        "made a safe file name)")
    p.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                   help="progress bar on stderr (default: when stderr is a terminal; needs tqdm)")
    p.add_argument("--trace", metavar="FILE", help="write every protocol event to FILE, one JSON line each (`qplane trace FILE`)")
    add_allow_large(p)
    p.set_defaults(func=cmd_run)


def add_allow_large(p: argparse.ArgumentParser) -> None:
    p.add_argument("--allow-large", action="store_true",
                   help="lift the size limits (nodes, links, memories, requests, pairs, runs; see the README)")


def run_label(args: argparse.Namespace, name: str) -> str:
    """``--name``, else the scenario's name with the run's overrides: ``chain-5[topology.nodes=9,seed=3]``."""
    if args.name:
        return args.name
    changes = [*args.overrides, *(f"{k}={v}" for k in ("seed", "backend") if (v := getattr(args, k)) is not None)]
    return f"{name}[{','.join(changes)}]" if changes else name


def _add_validate(sub: Any) -> None:
    p = sub.add_parser("validate", help="check a scenario (schema and component parameters) without running it")
    p.add_argument("scenario")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="PATH=VALUE")
    add_allow_large(p)
    p.set_defaults(func=cmd_validate)


def _add_schema(sub: Any) -> None:
    p = sub.add_parser("schema", help="print the JSON Schema of scenarios or results")
    p.add_argument("which", choices=["scenario", "results"])
    p.set_defaults(func=cmd_schema)


def _add_plugins(sub: Any) -> None:
    p = sub.add_parser("plugins", help="list installed plugins and the components they register")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument("--params", action="store_true", help="list every component's parameters too")
    p.set_defaults(func=cmd_plugins)


def warn_load_errors(registry: Any) -> None:
    from .plugins import load_errors

    for name, err in {**load_errors(registry.pm), **registry.errors}.items():
        print(f"qplane: warning: plugin {name!r} failed to load: {err}", file=sys.stderr)


def cmd_run(args: argparse.Namespace) -> int:
    from . import _engine, build
    from .scenario import file_stem, load_scenario

    scenario = load_scenario(args.scenario, overrides=args.overrides, seed=args.seed, backend=args.backend,
                             allow_large=args.allow_large)
    scenario.name = run_label(args, scenario.name)
    registry = args.registry
    warn_load_errors(registry)
    sim = build(scenario, registry, trace=args.trace)
    bar, code = _engine().report.progress_bar(args.progress, scenario.duration), EXIT_OK
    asked = sum(h.request.pairs or 0 for h in sim.handles)
    of = f"/{asked}" if asked and all(h.request.pairs for h in sim.handles) else ""

    def progress(now: float, delivered: int) -> None:
        bar.n = min(now, scenario.duration)
        bar.set_postfix_str(f"{delivered}{of} pair{'s' * (bool(of) or delivered != 1)} delivered")

    try:
        results = sim.run(progress=progress if bar is not None else None)
    except RunInterrupted as e:  # Ctrl-C: the results so far, every unfinished request `interrupted`
        results, code = e.results, 130
    finally:
        if bar is not None:
            bar.close()
    print(summary_table(results))
    out = Path(args.json_out) if args.json_out else Path(f"{file_stem(scenario.name)}.results.json")
    try:
        out.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    except OSError as e:
        raise QPlaneError(f"--json {out}: cannot write: {e.strerror}") from e
    print(f"results: {out}")
    if code:
        print(f"qplane: interrupted at t={results['sim_time_s']:.6g} simulated s: the results so far are in {out}",
              file=sys.stderr)
    return code


def cmd_validate(args: argparse.Namespace) -> int:
    from . import build
    from .scenario import load_scenario

    warn_load_errors(args.registry)
    try:
        sim = build(load_scenario(args.scenario, overrides=args.overrides, allow_large=args.allow_large), args.registry)
    except ScenarioError as e:  # a list where one value is expected: say how to check the study's runs
        if "parameter study" not in e.message:
            raise
        raise ScenarioError(f"{e.message}; `qplane sweep {args.scenario} --dry-run` validates every run of it "
                            "without running any", field=e.field, source=e.source) from e
    network = sim.context.network
    print(
        f"{args.scenario}: valid ({counted(len(network.nodes), 'node')}, {counted(len(network.links), 'link')}, "
        f"{counted(len(sim.handles), 'request')}, backend {sim.component_name('backend')})"
    )
    return EXIT_OK


def cmd_schema(args: argparse.Namespace) -> int:
    from .describe import scenario_schema
    from .results import Results

    schema = scenario_schema(args.registry) if args.which == "scenario" else Results.model_json_schema(by_alias=True)
    print(json.dumps(schema, indent=2))
    return EXIT_OK


def cmd_plugins(args: argparse.Namespace) -> int:
    from .backend import backend_capabilities
    from .describe import parameters
    from .plugins import load_errors, plugin_infos
    from .registry import KINDS

    registry = args.registry
    infos = plugin_infos(registry.pm)
    by_plugin: dict[str, list[dict[str, Any]]] = {}
    for kind in KINDS:
        for comp in registry.components(kind):
            entry = {"kind": kind, "name": comp.name, "description": comp.description}
            caps = backend_capabilities(comp.factory) if kind == "backend" else None
            if caps is not None:
                entry["capabilities"] = sorted(getattr(c, "value", str(c)) for c in caps)
            if args.params:
                entry["parameters"] = parameters(comp)
            by_plugin.setdefault(comp.plugin, []).append(entry)
    errors = {**load_errors(registry.pm), **registry.errors}
    if args.json:
        print(json.dumps({
            "plugins": [
                {"name": n, "distribution": i.distribution, "version": i.version, "components": by_plugin.get(n, [])}
                for n, i in sorted(infos.items())
            ],
            "errors": errors,
            "conflicts": [{"kind": k, "name": n, "plugins": ps} for k, n, ps in registry.conflicts()],
        }, indent=2))
        return EXIT_OK
    for name, info in sorted(infos.items()):
        print(f"{name}  ({info.distribution or '-'} {info.version or ''})".rstrip())
        for e in by_plugin.get(name, []):
            caps = f"  [{', '.join(e['capabilities'])}]" if "capabilities" in e else ""
            print(f"    {e['kind']:<16} {e['name']:<16} {e['description']}{caps}")
            for r in e.get("parameters", []):
                default = "(required)" if r["required"] else f"= {json.dumps(r['default'])}"
                print(f"        {r['name']}: {r['type']} {default}")
    for name, err in sorted(errors.items()):
        print(f"{name}  FAILED: {err}")
    for kind, name, plugins in registry.conflicts():
        print(f"{KINDS[kind][1]} {name!r} is registered by plugins {', '.join(plugins)}: "
              f"a scenario selecting it must pin one, e.g. {{name: {name}, plugin: {plugins[0]}}}")
    return EXIT_OK


DEBUG_HELP = "on an error, show the traceback (accepted anywhere on the line)"


def make_parser(registry: Any | None = None) -> argparse.ArgumentParser:
    parser = _Parser(prog="qplane", description="quantum-network simulator and control plane",
                     epilog="`qplane COMMAND --help` explains a command; start with `qplane run examples/chain.yaml`",
                     formatter_class=argparse.RawDescriptionHelpFormatter)  # the version's lines kept
    parser.add_argument("--version", action="version", version=version_text(registry) if registry else "qplane",
                        help="print the versions of qplane and of every installed plugin, and exit")
    parser.add_argument("--debug", action="store_true", help=DEBUG_HELP)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True
    for add in (_add_run, _add_validate, _add_schema, _add_plugins):
        add(sub)
    for comp in registry.components("command") if registry is not None else []:
        try:
            comp.factory(sub)
        except Exception as e:
            raise PluginError(
                f"plugin {comp.plugin!r} failed to add command {comp.name!r}: {type(e).__name__}: {e}"
            ) from e
    for command in sub.choices.values():  # every command's --help lists --debug, plugins' commands too
        try:
            command.add_argument("--debug", action="store_true", help=DEBUG_HELP)
        except argparse.ArgumentError:  # an alias of a command already done, or the command has its own
            pass
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv  # accepted anywhere on the line
    try:
        from .registry import Registry

        registry = Registry()  # built once: the commands it adds and the command's own work use it
        parser = make_parser(registry)
        if not [a for a in argv if a != "--debug"]:  # bare `qplane`: the usage, not one line
            print(parser.format_help(), end="", file=sys.stderr)
            return EXIT_USAGE
        args = parser.parse_args([a for a in argv if a != "--debug"])
        args.registry = registry
        return int(args.func(args))
    except QPlaneError as e:
        if debug:
            raise
        print(f"qplane: error: {e}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("qplane: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `qplane ... | head`: the reader left; not an error of ours
        try:
            sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - so the interpreter's final flush is quiet
        except OSError:
            pass
        return EXIT_OK
    except Exception as e:  # a bug: say so in one line, the traceback is behind --debug
        if debug:
            raise
        print(f"qplane: internal error: {type(e).__name__}: {e} (run with --debug for the traceback)", file=sys.stderr)
        return EXIT_FAIL


if __name__ == "__main__":
    sys.exit(main())
