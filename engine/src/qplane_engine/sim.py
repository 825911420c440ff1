"""The engine: a built simulation of one scenario, and the loop that runs it.

:func:`build` assembles a scenario (:mod:`qplane_engine.assembly`) into a :class:`Simulation`;
:meth:`Simulation.run` plays it on the kernel and returns the results dictionary
(:mod:`qplane.results`). The engine's parts each own one concern: the memory inventory
(:mod:`qplane_engine.inventory`), the request life cycle and the controller
(:mod:`qplane_engine.lifecycle`), failure injection (:mod:`qplane_engine.failures`). Plugins see none of
them directly: each component gets a :class:`qplane.context.Context` made here, and drivers
use the :class:`qplane.context.Operator` API of :class:`Simulation`.
"""

from __future__ import annotations

import contextlib
import gc
import itertools
import random
import threading
import time
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

from qplane.components import BY_PATH, FIELDS
from qplane.context import TRACE, RunSettings, ServiceKey
from qplane.errors import PluginError, QPlaneError, RunInterrupted
from qplane.kernel import Kernel
from qplane.registry import Registry
from qplane.requests import DeliveredPair, EntanglementRequest, RequestHandle, RequestStatus
from qplane.scenario import Scenario, load_scenario, scenario_source
import qplane_physics as physics

from .assembly import RUN_COMPONENTS, Assembler
from .blame import plugin_at_fault
from .failures import Failures
from .inventory import MemoryInventory
from .lifecycle import RequestLifecycle
from .management import Management
from .multipartite import Multipartite
from .virtual import VirtualLinks
from .results import assemble
from .trace import PAIR_IDS, Tracer


class Services:
    """:class:`qplane.context.Services`: a dictionary keyed by declared, typed keys."""

    __slots__ = ("_values",)

    def __init__(self) -> None:
        self._values: dict[str, Any] = {}

    def get(self, key: ServiceKey[Any]) -> Any:
        return self._values.get(key.name)

    def set(self, key: ServiceKey[Any], value: Any) -> None:
        if not isinstance(value, key.type):
            raise TypeError(f"service {key.name!r} holds {key.type.__name__}, not {type(value).__name__}")
        self._values[key.name] = value

    def pop(self, key: ServiceKey[Any]) -> Any:
        return self._values.pop(key.name, None)


class Context:
    """:class:`qplane.context.Context`: exactly the contract's members (slots: nothing else
    can be reached through it)."""

    __slots__ = ("settings", "clock", "network", "backend", "inventory", "sessions", "link_generation",
                 "controller", "services", "best_case_fidelity", "component", "rng")

    def __init__(self, component: str, rng: random.Random | None, **members: Any):
        self.component = component
        self.rng = rng
        for name, value in members.items():
            setattr(self, name, value)


class Simulation:
    """One run of one scenario (the :class:`qplane.context.Operator` API).

    ``env`` is the event loop; a caller may bring its own :class:`Kernel` subclass (the
    northbound service runs on a real-time one), seeded with the scenario's seed."""

    def __init__(self, scenario: Scenario, registry: Registry, env: Kernel | None = None, trace: Any = None):
        self.scenario = scenario
        self.trace_path = trace  # a file for the protocol-event trace (None: untraced)
        self.tracer: Tracer | None = None
        self.registry = registry
        self.source = scenario_source(scenario)
        self.env = env if env is not None else Kernel(scenario.seed)
        #: the kernel is the clock plugins see (:class:`qplane.context.Clock`: ``now``,
        #: ``call_at``, ``stream``; the contract test holds them to those three)
        self.clock = self.env
        self.hook = registry.pm.hook
        self.assembler = Assembler(self)
        self.wall_time = 0.0
        self._running = False
        self._done = 0
        self._all_done = self.env.event()
        self.services = Services()
        self.settings = RunSettings(scenario.name, scenario.seed, scenario.duration, scenario.classical.instant)
        self.context: Context | None = None

    # ---------------------------------------------------------------- assembly

    def build(self) -> "Simulation":
        sc, asm = self.scenario, self.assembler
        self.backend = asm.backend()
        self.network = asm.network(self.backend)
        self.inventory = MemoryInventory(self.clock, self.network)
        pair_hook = self.hook.qplane_pair_delivered.get_hookimpls()
        self.lifecycle = RequestLifecycle(self.clock, self.network, self.inventory, self.best_case_fidelity,
                                          self._finished, self._pair_delivered if pair_hook else None)
        self.failures = Failures(self.clock, self.network, self._link_changed, self._node_changed)
        self.multipartite = self.lifecycle.multipartite = Multipartite(self)
        self.virtual = self.lifecycle.virtual = VirtualLinks(self)
        if self.trace_path is not None:  # before any component is built: they fetch it once
            self.tracer = self.lifecycle.trace = self.failures.trace = Tracer(self.trace_path, self.clock)
            self.inventory.trace = self.multipartite.trace = self.virtual.trace = self.tracer
            self.services.set(TRACE, self.tracer)
            self.services.set(PAIR_IDS, itertools.count())
        self.lifecycle.requests.extend(asm.requests(self.network))
        self.context = self.make_context("run")
        for path in RUN_COMPONENTS:
            spec = BY_PATH[path]
            res = asm.resolved[path] = asm.build_component(spec, getattr(sc.protocols, spec.leaf), path)
            if spec.kind == "link_generation":  # the others may hold on to it from their start
                self.context.link_generation = self.failures.link_generation = res.instance
        self.link_generator = self.component("link_generation")
        self.scheduler = self.lifecycle.scheduler = self.component("scheduler")
        self.topology_manager = self.lifecycle.topology_manager = self.component("topology_manager")
        self.network.controller = self.topology_manager
        self.management = Management(self)
        for i, handle in enumerate(self.handles):
            asm.request_protocols(handle, f"requests.{i}.protocols")
        self.lifecycle.requests.extend(asm.traffic(self.network, len(self.handles)))
        asm.check_events(self.network)
        self.virtual.check()
        asm.check_capabilities(self.backend)
        return self

    def make_context(self, component: str) -> Context:
        """The :class:`qplane.context.Context` of one component (``kind:name``), with its own
        random stream."""
        return Context(
            component, self.env.stream(component) if component != "run" else None,
            settings=self.settings, clock=self.clock, network=self.network, backend=self.backend, inventory=self.inventory,
            sessions=self.lifecycle, controller=self.lifecycle,
            link_generation=self.context.link_generation if self.context is not None else None,
            services=self.services,
            best_case_fidelity=self.best_case_fidelity,
        )

    def _scenario_component(self, kind: str) -> Any:
        """What the scenario's field of ``kind`` resolved to (a :class:`Resolved`)."""
        return self.assembler.resolved[next(f.path for f in FIELDS if f.kind == kind)]

    def component(self, kind: str) -> Any:
        """The scenario's component of ``kind`` (the instance)."""
        return self._scenario_component(kind).instance

    def component_name(self, kind: str) -> str:
        return self._scenario_component(kind).component.name

    def component_params(self, path: str) -> Any:
        resolved = self.assembler.resolved.get(path)
        return resolved.params if resolved is not None else None

    # ---------------------------------------------------------------- the operator API

    @property
    def now(self) -> float:
        return self.env.now

    @property
    def handles(self) -> list[RequestHandle]:
        return self.lifecycle.requests

    def submit(self, request: EntanglementRequest) -> RequestHandle:
        """Submit a request from code (an application), before or during the run. It arrives at
        ``max(request.start, now)``; the handle's status and delivered pairs are live."""
        self.assembler.check_nodes(request, "request")
        handle = RequestHandle(id=len(self.handles), request=request)
        before = dict(self.assembler.resolved)
        try:
            self.assembler.request_protocols(handle, "request.protocols")
            self.assembler.check_capabilities(self.backend)
        except QPlaneError:
            self.assembler.resolved = before  # a refused request leaves nothing behind
            raise
        self.handles.append(handle)
        if self._running:
            self.env.call_at(max(request.start - self.now, 0.0), self._arrive, handle)
        return handle

    def cancel(self, handle: RequestHandle, reason: str = "cancelled by the application") -> None:
        """End a request now; its memories are freed."""
        self.lifecycle.finish(handle, RequestStatus.CANCELLED, reason)

    def set_link_state(self, a: str, b: str, up: bool) -> None:
        if up and frozenset((a, b)) in self.failures.removed_links:
            raise QPlaneError(f"link {a}-{b} was removed: it cannot come back")
        self.failures.set_link_state(a, b, up)

    def set_node_state(self, name: str, up: bool) -> None:
        if up and name in self.failures.removed_nodes:
            raise QPlaneError(f"node {name!r} was removed: it cannot come back")
        self.failures.set_node_state(name, up)

    # the operator's changes (:mod:`qplane_engine.management`)
    def set_link_model(self, a: str, b: str, model: Any) -> None:
        self.management.set_link_model(a, b, model)

    def set_node_model(self, name: str, memory_model: Any = None, operations: Any = None) -> None:
        self.management.set_node_model(name, memory_model, operations)

    def set_link_routable(self, a: str, b: str, routable: bool) -> None:
        self.management.set_link_routable(a, b, routable)

    def add_node(self, name: str, memory_model: Any, operations: Any) -> None:
        self.management.add_node(name, memory_model, operations)

    def add_link(self, a: str, b: str, length_km: float, model: Any, scheme: str) -> None:
        self.management.add_link(a, b, length_km, model, scheme)

    def remove_link(self, a: str, b: str) -> None:
        self.management.remove_link(a, b)

    def remove_node(self, name: str) -> None:
        self.management.remove_node(name)

    def topology_status(self) -> dict[str, Any]:
        return {
            "manager": self.component_name("topology_manager"),
            "ready": bool(self.topology_manager.ready()),
            "failures": self.failures.injected,
            "reroutes": sum(h.reroutes for h in self.handles),
            "requests_failed": sum(h.status == RequestStatus.FAILED for h in self.handles),
            **self.management.status(),
            **self.topology_manager.metrics(),
        }

    def memory_violations(self, final: bool = False) -> list[str]:
        """Breaches of the memory inventory's invariants (see :meth:`MemoryInventory.violations`)."""
        return self.inventory.violations(final)

    def check_memory_invariants(self, final: bool = False) -> None:
        """Raise :class:`AssertionError` listing every breach of :meth:`memory_violations`."""
        problems = self.memory_violations(final)
        if problems:
            shown = problems[:20] + ([f"... and {len(problems) - 20} more"] if len(problems) > 20 else [])
            raise AssertionError("memory inventory broken at t=%.9g s:\n  " % self.now + "\n  ".join(shown))

    # ---------------------------------------------------------------- the estimate

    def best_case_fidelity(self, path: Sequence[str], purification: Any = None) -> float:
        """The network's estimate of the best fidelity a pair over ``path`` can have: link
        pairs as heralded (with storage noise during the herald wait), swapped with each
        repeater's gate errors, no other waiting; improved by the purification protocol's own
        ``best_case`` when it has one."""
        improve = getattr(purification, "best_case", None)
        nodes = self.network.nodes
        v: tuple[float, ...] | None = None
        for u, w in zip(path, path[1:]):
            link = self.network.link(u, w)
            lv = physics.to_pauli_order(link.model.pair_state)
            for node in (u, w):
                lv = physics.pauli_channel(lv, nodes[node].device.memory_model.pauli_probs(link.model.herald_delay))
            if improve is not None:
                lv = improve(lv, "link")
            if v is None:
                v = lv
            else:
                v = physics.swap_pauli_order(v, lv)
                gate_error = nodes[u].device.operations.gate_error
                if gate_error:
                    v = physics.two_qubit_depolarize(v, gate_error)
        if v is not None and improve is not None:
            v = improve(v, "end-to-end")
        return v[0] if v is not None else 0.0

    # ---------------------------------------------------------------- hooks

    def _finished(self, handle: RequestHandle) -> None:
        if self.multipartite.finished(handle) or self.virtual.finished(handle):  # the engine's own
            return  # (a leg of a GHZ request, a virtual link's keeper or a leg over virtual links)
        self.hook.qplane_request_finished(context=self.context, request=handle)
        self._done += 1
        if self._done == len(self.handles) and not self._all_done.triggered:
            self._all_done.succeed()

    def _pair_delivered(self, handle: RequestHandle, pair: DeliveredPair) -> None:
        self.hook.qplane_pair_delivered(context=self.context, request=handle, pair=pair)

    def _link_changed(self, link: Any, up: bool) -> None:
        self.hook.qplane_link_state_changed(context=self.context, link=link, up=up)
        self.topology_manager.physical_change("link", (link.a, link.b), up)

    def _node_changed(self, node: Any, up: bool) -> None:
        self.hook.qplane_node_state_changed(context=self.context, node=node, up=up)
        self.topology_manager.physical_change("node", node.name, up)

    def _arrive(self, handle: RequestHandle) -> None:
        if not handle.done:
            self.hook.qplane_request_submitted(context=self.context, request=handle)
        self.lifecycle.arrive(handle)

    # ---------------------------------------------------------------- the run

    def run(self, progress: Callable[[float, int], None] | None = None) -> dict[str, Any]:
        """Play the scenario and return the results dictionary.

        ``progress(now, pairs_delivered)`` is called about ten times a wall second during the
        loop (the clock is read every 1024 events; without it the loop is untouched). Ctrl-C
        (:class:`KeyboardInterrupt`) during the loop ends every unfinished request
        ``interrupted`` and raises :class:`RunInterrupted` carrying the results so far.

        An exception a plugin raises during the run (a protocol, a hook, a backend) becomes one
        :class:`PluginError` line naming the plugin, the simulated time and the original error,
        chained to it (``--debug`` shows the traceback): the plugin is the one owning the
        deepest traceback frame in a plugin's code (:func:`qplane_engine.blame.plugin_at_fault`). Errors
        qplane raises on purpose, and faults with no plugin code on the traceback, pass as they are."""
        try:
            return self._run(progress)
        except QPlaneError:
            raise
        except Exception as e:
            culprit = plugin_at_fault(self.registry, e)
            if culprit is None:
                raise
            plugin, where = culprit
            message = " | ".join(line.strip() for line in str(e).strip().splitlines() if line.strip())
            error = PluginError(
                f"plugin {plugin!r} failed during the run at t={self.env.now:.9g} s: "
                f"{type(e).__name__}{': ' + message if message else ''} ({where})"
            )
            error.plugin, error.time, error.where = plugin, self.env.now, where  # type: ignore[attr-defined]
            raise error from e

    def _run(self, progress: Callable[[float, int], None] | None) -> dict[str, Any]:
        t0 = time.perf_counter()
        self.hook.qplane_simulation_start(context=self.context)
        self._running = True
        self.failures.schedule(self.scenario)
        self.topology_manager.start()
        if self.topology_manager.ready():  # otherwise virtual links start with their first request
            self.virtual.start_from_scenario()
        for handle in self.handles:
            self.env.call_at(handle.request.start, self._arrive, handle)
        interrupted = None
        if progress is not None:
            self.env.step = self._watched_step(progress)  # type: ignore[method-assign]
        with _quiet_gc():
            try:
                self.env.run_until(self.scenario.duration, stop=self._all_done if self.handles else None)
            except KeyboardInterrupt as e:
                interrupted = e
            finally:
                self.env.__dict__.pop("step", None)
        try:
            if interrupted is None:
                self.lifecycle.end_of_run()
            else:
                self.lifecycle.interrupt()
            self.virtual.stop()
        finally:
            if self.tracer is not None:  # the requests' ends are in it: complete
                self.tracer.close()
        self._running = False
        self.hook.qplane_simulation_end(context=self.context)
        self.wall_time = time.perf_counter() - t0
        results = assemble(self)
        if self.virtual.stocks:
            results["extra"]["virtual_links"] = self.virtual.summary()
        self.hook.qplane_results_assembled(context=self.context, results=results)
        if interrupted is not None:
            raise RunInterrupted(results) from interrupted
        return results

    def _watched_step(self, progress: Callable[[float, int], None]) -> Callable[[], None]:
        """The kernel's ``step``, reporting progress at most every 0.1 wall s (checked every 1024 events)."""
        env, step, next_at = self.env, self.env.step, [time.monotonic()]

        def watched() -> None:
            step()
            if not env.events_processed & 1023 and time.monotonic() >= next_at[0]:
                next_at[0] = time.monotonic() + 0.1
                progress(env.now, sum(h.delivered_count for h in self.handles))
        return watched


_gc_lock = threading.Lock()
_gc_users = 0
_gc_saved: tuple[int, int, int] | None = None


@contextlib.contextmanager
def _quiet_gc() -> Iterator[None]:
    """Run with the objects built so far frozen out of the cyclic collector and a larger
    young-generation threshold: a large network keeps hundreds of thousands of live objects,
    and re-scanning them on every collection made the cost per event grow with the network.
    Garbage made during the run is still collected. The setting is process-wide: the first
    run to enter applies it, the last to leave restores it (runs may share a process and run
    in threads, as the northbound service's twins do)."""
    global _gc_users, _gc_saved
    with _gc_lock:
        if _gc_users == 0:
            _gc_saved = threshold = gc.get_threshold()
            gc.freeze()
            gc.set_threshold(max(threshold[0], 100_000), max(threshold[1], 50), max(threshold[2], 100))
        _gc_users += 1
    try:
        yield
    finally:
        with _gc_lock:
            _gc_users -= 1
            if _gc_users == 0 and _gc_saved is not None:
                gc.set_threshold(*_gc_saved)
                gc.unfreeze()


def build(scenario: Scenario, registry: Registry | None = None, env: Kernel | None = None,
          trace: Any = None) -> Simulation:
    """Resolve and validate every component of ``scenario``; nothing runs yet. ``env``: bring
    your own :class:`Kernel` (subclass), seeded with the scenario's seed. ``trace``: a file to
    write the run's protocol events to (:mod:`qplane_engine.trace`)."""
    return Simulation(scenario, registry if registry is not None else Registry(), env, trace).build()


def run(scenario: Scenario | str | Path | dict[str, Any], registry: Registry | None = None,
        **load_kwargs: Any) -> dict[str, Any]:
    """Load (if needed), build and run a scenario; returns the results dictionary."""
    if not isinstance(scenario, Scenario):
        scenario = load_scenario(scenario, **load_kwargs)
    return build(scenario, registry).run()
