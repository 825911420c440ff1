"""GHZ fidelity of qubits on stim tableaus (capability ``multipartite``).

The circuit ``U`` = CNOT from the first qubit onto each other one, then H on the first, maps
the GHZ state ``(|0...0> + |1...1>)/sqrt2`` to ``|0...0>``; so the fidelity of the qubits'
(reduced) state with GHZ is the probability that measuring them in Z after ``U`` gives all
zeros. On a copy of the simulator that probability is exact: measure the qubits one after the
other, each definite outcome must be 0 (else the fidelity is 0) and each random one is forced
to 0 with a factor 1/2. For a sampled trajectory the result is 1 or 0 when the qubits hold a
GHZ state up to a Pauli (which fusion with Pauli noise leaves), else ``2^-j``; the mean over
trajectories is the state's fidelity, as for pairs.
"""

from __future__ import annotations

from typing import Sequence

import stim


def ghz_fidelity(sims: Sequence[stim.TableauSimulator], where: Sequence[tuple[int, int]]) -> float:
    """Fidelity with GHZ of the qubits at ``where``: ``(simulator number, index)`` pairs into
    ``sims`` (distinct groups, uncorrelated). The simulators are not disturbed."""
    if len(sims) == 1:
        sim = sims[0].copy()
        idx = [i for _, i in where]
    else:  # a product of groups: one simulator of the direct sum
        offsets, t, total = [], None, 0
        for s in sims:
            inv = s.current_inverse_tableau()
            offsets.append(total)
            total += len(inv)
            t = inv if t is None else t + inv
        sim = stim.TableauSimulator()
        sim.set_inverse_tableau(t)
        idx = [offsets[g] + i for g, i in where]
    first = idx[0]
    for i in idx[1:]:
        sim.cnot(first, i)
    sim.h(first)
    f = 1.0
    for i in idx:
        e = sim.peek_z(i)
        if e < 0:
            return 0.0
        if e == 0:
            f *= 0.5
            sim.postselect_z(i, desired_value=False)
    return f
