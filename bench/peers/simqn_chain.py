"""Repeater-chain benchmark on SimQN (package `qns`): a peer measured side by side with qplane.

Scenario (the job of bench/peers.py, run there side by side with qplane):
  N nodes in a line, L = 20 km between neighbours, 0.2 dB/km, c = 2e5 km/s.
  Elementary link k (node k -> node k+1): node k creates a Werner pair (F0),
  keeps one half in its QuantumMemory and sends the other half over a lossy
  QuantumChannel (drop_rate = 1 - 10^(-0.2*L/10), delay L/c).  On arrival the
  receiver stores it and returns an ACK over a ClassicChannel (delay L/c);
  the link counts as up at both ends when the ACK reaches the sender (2L/c).
  If no ACK by 2L/c + 1 ns, the sender discards its half and retries
  (attempt period 2L/c).  A link only attempts while both its memories are free.
  Swap-ASAP: a node holding a left and a right pair swaps at once (ideal BSM,
  Werner: w = w1*w2).  Partner bookkeeping after a swap is instantaneous
  (no classical swap messages).  When node 0 and node N-1 share a pair it is
  counted as delivered and consumed (both end memories freed).
  Memory noise: QuantumMemory(decoherence_rate=1/T_mem); SimQN's Werner
  store_error_model multiplies w by exp(-rate*t) when a memory reads a pair.
  Each end reads its half, so this equals per-qubit depolarising
  with alpha(t)=exp(-t/T_mem).
"""
import argparse
import json
import math
import time

from qns.simulator.simulator import Simulator
from qns.simulator.event import func_to_event
from qns.network.network import QuantumNetwork
from qns.network.topology import LineTopology
from qns.network.topology.topo import ClassicTopology
from qns.entity.node.app import Application
from qns.entity.qchannel.qchannel import RecvQubitPacket
from qns.entity.cchannel.cchannel import ClassicPacket, RecvClassicPacket
from qns.models.epr import WernerStateEntanglement
from qns.utils.rnd import set_seed


class Chain:
    """Shared bookkeeping (which pair object each memory slot holds)."""

    def __init__(self, n, sim, params):
        self.n = n
        self.sim = sim
        self.p = params
        self.apps = [None] * n
        # slot[i] = {'L': (pair, partner_index) or None, 'R': ...}
        self.slot = [{"L": None, "R": None} for _ in range(n)]
        self.delivered = 0
        self.fid_sum = 0.0
        self.counter = 0

    def link_free(self, k):
        return self.slot[k]["R"] is None and self.slot[k + 1]["L"] is None

    def kick(self, k):
        if 0 <= k < self.n - 1 and self.link_free(k):
            self.apps[k].start_link()


class ChainApp(Application):
    def __init__(self, chain):
        super().__init__()
        self.chain = chain
        self.add_handler(self.on_qubit, [RecvQubitPacket])
        self.add_handler(self.on_classic, [RecvClassicPacket])

    def install(self, node, simulator):
        super().install(node, simulator)
        ch = self.chain
        self.idx = int(node.name[1:]) - 1  # LineTopology names nodes n1..nN
        ch.apps[self.idx] = self
        self.mem = node.memories[0]
        nodes = node.network.nodes
        self.right = nodes[self.idx + 1] if self.idx + 1 < ch.n else None
        self.left = nodes[self.idx - 1] if self.idx > 0 else None
        self.attempting = False
        self.pending = None  # pair currently in flight
        self.acked = False
        self.ta = simulator.time(sec=2 * ch.p["L"] / ch.p["c"] + 1e-9)
        if self.right is not None:
            simulator.add_event(func_to_event(simulator.ts, self.start_link, by=self))

    # --- elementary link generation (this node is the left end of link idx)
    def start_link(self):
        if self.attempting:
            return
        self.attempting = True
        self.attempt()

    def attempt(self):
        ch = self.chain
        ch.counter += 1
        epr = WernerStateEntanglement(fidelity=ch.p["F0"], name=f"e{ch.counter}")
        self.pending = epr
        self.acked = False
        self.mem.write(epr)
        self._node.get_qchannel(self.right).send(epr, self.right)
        sim = self._simulator
        sim.add_event(func_to_event(sim.tc + self.ta, self.timeout, by=self, epr=epr))

    def timeout(self, epr):
        if self.acked or self.pending is not epr:
            return
        self.mem.read(self.pending.name)  # discard our half
        self.pending = None
        self.attempt()

    def on_qubit(self, node, event):
        ch = self.chain
        epr = event.qubit
        self.mem.write(epr)  # our half decoheres from arrival on
        cc = node.get_cchannel(self.left)
        cc.send(ClassicPacket(msg=epr.name, src=node, dest=self.left), next_hop=self.left)

    def on_classic(self, node, event):
        ch = self.chain
        epr = self.pending
        self.acked = True
        self.attempting = False
        self.pending = None
        # the link counts as up (for both ends) when the ACK is back at the sender
        ch.slot[self.idx]["R"] = (epr, self.idx + 1)
        ch.slot[self.idx + 1]["L"] = (epr, self.idx)
        self.after_new_pair()
        ch.apps[self.idx + 1].after_new_pair()

    # --- swapping / delivery
    def after_new_pair(self):
        ch = self.chain
        s = ch.slot[self.idx]
        if 0 < self.idx < ch.n - 1:
            if s["L"] is not None and s["R"] is not None:
                self.swap()
                ch.apps[0].check_delivery()
        else:
            self.check_delivery()

    def swap(self):
        ch = self.chain
        (p1, a), (p2, b) = ch.slot[self.idx]["L"], ch.slot[self.idx]["R"]
        # apply memory decoherence for all four halves up to now
        ch.apps[a].mem.read(p1.name)
        self.mem.read(p1.name)
        self.mem.read(p2.name)
        ch.apps[b].mem.read(p2.name)
        ch.counter += 1
        ne = p1.swapping(p2, name=f"e{ch.counter}")
        ch.apps[a].mem.write(ne)
        ch.apps[b].mem.write(ne)
        ch.slot[self.idx]["L"] = None
        ch.slot[self.idx]["R"] = None
        ch.slot[a]["R"] = (ne, b)
        ch.slot[b]["L"] = (ne, a)
        ch.kick(self.idx - 1)
        ch.kick(self.idx)
        if a == 0 and b == ch.n - 1:
            ch.apps[0].check_delivery()

    def check_delivery(self):
        ch = self.chain
        r0 = ch.slot[0]["R"]
        ln = ch.slot[ch.n - 1]["L"]
        if r0 is None or ln is None or r0[0] is not ln[0]:
            return
        pair = r0[0]
        ch.apps[0].mem.read(pair.name)
        ch.apps[ch.n - 1].mem.read(pair.name)
        ch.delivered += 1
        ch.fid_sum += pair.fidelity
        ch.slot[0]["R"] = None
        ch.slot[ch.n - 1]["L"] = None
        ch.kick(0)
        ch.kick(ch.n - 2)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--nodes", type=int, default=3)
    ap.add_argument("--sim-seconds", type=float, default=1.0)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--L-km", type=float, default=20.0)
    ap.add_argument("--att-db-per-km", type=float, default=0.2)
    ap.add_argument("--c-km-s", type=float, default=2e5)
    ap.add_argument("--F0", type=float, default=0.99)
    ap.add_argument("--T-mem", type=float, default=1.0)
    a = ap.parse_args()

    params = dict(L=a.L_km, c=a.c_km_s, F0=a.F0)
    eta = 10 ** (-a.att_db_per_km * a.L_km / 10)
    set_seed(a.seed)
    sim = Simulator(0, a.sim_seconds, accuracy=1_000_000_000)
    chain = Chain(a.nodes, sim, params)
    topo = LineTopology(
        nodes_number=a.nodes,
        nodes_apps=[],
        qchannel_args=dict(delay=a.L_km / a.c_km_s, length=a.L_km, drop_rate=1 - eta, bandwidth=0),
        cchannel_args=dict(delay=a.L_km / a.c_km_s),
        memory_args=dict(capacity=2, decoherence_rate=1.0 / a.T_mem),
    )
    net = QuantumNetwork(topo=topo, classic_topo=ClassicTopology.Follow)
    for n in net.nodes:
        n.add_apps(ChainApp(chain))
    t0 = time.perf_counter()
    net.install(sim)
    sim.run()
    wall = time.perf_counter() - t0
    ev = sim.total_events
    print(json.dumps(dict(
        package="qns", version="0.2.3", nodes=a.nodes, km=a.L_km * (a.nodes - 1),
        sim_seconds=a.sim_seconds, wall_seconds=round(wall, 4), events_executed=ev,
        events_per_second=round(ev / wall, 1), pairs_delivered=chain.delivered,
        mean_fidelity=(chain.fid_sum / chain.delivered) if chain.delivered else None,
        seed=a.seed, link_success_prob=eta)))


if __name__ == "__main__":
    main()
