"""Fusion of Bell pairs into a GHZ state at a hub (issue 15), on the state-backend protocol.

The hub holds ``hub_qubits[i]``, its half of a Bell pair (Phi+ up to noise) shared with party
``i``; ``party_qubits[i]`` is party i's half. :func:`fuse_ghz` performs the GHZ measurement on
the hub's qubits and returns the outcomes; the parties apply them with
:func:`apply_ghz_corrections` once the classical messages have arrived.

Circuit (uses only ``apply_gate``, ``measure`` and ``apply_pauli_channel``): for i = 1..n-1,
CNOT from ``h0 = hub_qubits[0]`` onto ``h_i``, then measure ``h_i`` in Z (outcome ``m_i``); then,
unless the hub keeps ``h0`` as its own share (``keep_first``), measure ``h0`` in X (``m_0``).
Each ``h_i`` is measured right after its CNOT (the later CNOTs do not touch it, so this is the
same measurement as at the end): the joint state of ``h0``'s group grows by one party per step
and peaks at ``n + 2`` qubits (:func:`fusion_group_qubits`), which backends with a
``max_group_qubits`` limit must hold.

Why it works (stabilizers; ``p_i`` is party i's qubit). Before: ``X_hi X_pi`` and ``Z_hi Z_pi``
for every i. CNOT(h0 -> h_i) maps ``X_h0 -> X_h0 X_hi``, ``Z_hi -> Z_h0 Z_hi`` and leaves
``Z_h0``, ``X_hi`` alone, so after all the CNOTs the stabilizers are
``X_h0 X_h1..X_h(n-1) X_p0``, ``Z_h0 Z_p0``, and for i >= 1 ``X_hi X_pi``, ``Z_h0 Z_hi Z_pi``.
Measuring ``Z_hi = (-1)^m_i`` keeps the generators that commute with it: ``(-1)^m_i Z_h0 Z_pi``
and the product ``X_h0 X_p0 X_p1 .. X_p(n-1)`` (each ``X_hi`` cancels against ``X_hi X_pi``).
So once party i >= 1 applies ``X^m_i``, ``(h0, p0, .., p(n-1))`` hold the (n+1)-qubit GHZ state
(stabilizers ``X^(x)(n+1)``, ``Z_h0 Z_pi``): with ``keep_first`` this is the state, ``h0`` being
the hub's share. Otherwise measuring ``X_h0 = (-1)^m_0`` leaves ``(-1)^m_0 X_p0 .. X_p(n-1)`` and
``Z_p0 Z_pi`` (products of two ``Z_h0 Z_p``): the n-party GHZ state once party 0 applies
``Z^m_0``. The corrections are Paulis on the parties' qubits, which commute with the
measurements and with each other up to a global phase, so they may come later and in any order.

Noise model. ``gate_error`` p: after each CNOT, each of its two qubits gets the one-qubit
depolarizing channel ``(1 - 3p/4, p/4, p/4, p/4)`` — the one-qubit marginals of the two-qubit
depolarizing channel of :func:`qplane_physics.purify` (each of the 16 two-qubit Paulis with
p/16), whose correlated part (both qubits hit at once, p^2 order) this product omits.
``measurement_error`` e: each reported bit is flipped with probability e, done as the Pauli
that flips the outcome (X before a Z measurement, Z before an X measurement) with probability
e — the same statistics, drawn from the backend's own seeded stream.
"""

from __future__ import annotations

from typing import Any, Sequence

#: Pauli indices of :mod:`qplane_physics` (I=0, X=1, Z=2, Y=3)
_X, _Z = 1, 2


def fusion_group_qubits(pairs: int) -> int:
    """Most qubits :func:`fuse_ghz` on ``pairs`` Bell pairs holds in one joint state: the GHZ
    state so far (``h0`` and the parties fused, i + 1 qubits before step i) plus the pair of
    step i, at the last step ``pairs + 2``. Compare with a backend's ``max_group_qubits``."""
    return pairs + 2


def fuse_ghz(backend: Any, hub_qubits: Sequence[Any], now: float, keep_first: bool,
             gate_error: float = 0.0, measurement_error: float = 0.0) -> tuple[list[int], int]:
    """GHZ measurement at the hub on ``hub_qubits`` (``hub_qubits[i]`` shares a Bell pair
    with party i; at least two). Returns ``(x_flips, z_flip)``:

    - ``x_flips[i - 1]`` (0/1) for party i = 1..n-1: party i applies X to its qubit when 1;
    - ``z_flip`` (0/1): party 0 applies Z to its qubit when 1 (always 0 with ``keep_first``).

    After the corrections the parties' qubits ``(p0, .., p(n-1))`` hold the n-qubit GHZ state
    ``(|0..0> + |1..1>)/sqrt2``, or, with ``keep_first`` (the hub is a party and keeps
    ``hub_qubits[0]``, which is not measured), ``(hub_qubits[0], p0, .., p(n-1))`` hold the
    (n+1)-qubit one. Every other hub qubit ceases to exist. See the module docstring for the
    derivation and the noise model."""
    qubits = list(hub_qubits)
    if len(qubits) < 2 or len({id(q) for q in qubits}) != len(qubits):
        raise ValueError(f"fuse_ghz needs two or more distinct hub qubits, got {len(qubits)}")
    gate_channel = (1.0 - 0.75 * gate_error, gate_error / 4, gate_error / 4, gate_error / 4)
    h0 = qubits[0]
    x_flips: list[int] = []
    for h in qubits[1:]:
        backend.apply_gate("CNOT", [h0, h], now)
        if gate_error:
            backend.apply_pauli_channel(h0, gate_channel, now)
            backend.apply_pauli_channel(h, gate_channel, now)
        if measurement_error:
            backend.apply_pauli_channel(h, (1.0 - measurement_error, measurement_error, 0.0, 0.0), now)
        x_flips.append(backend.measure(h, "Z", now))
    z_flip = 0
    if not keep_first:
        if measurement_error:
            backend.apply_pauli_channel(h0, (1.0 - measurement_error, 0.0, measurement_error, 0.0), now)
        z_flip = backend.measure(h0, "X", now)
    return x_flips, z_flip


def apply_ghz_corrections(backend: Any, party_qubits: Sequence[Any], x_flips: Sequence[int], z_flip: int,
                          now: float) -> None:
    """The parties' Pauli corrections of :func:`fuse_ghz`: X on ``party_qubits[i]`` when
    ``x_flips[i - 1]`` is 1 (i >= 1), Z on ``party_qubits[0]`` when ``z_flip`` is 1.
    ``party_qubits`` are in the order of the hub qubits they were paired with."""
    parties = list(party_qubits)
    if len(x_flips) != len(parties) - 1:
        raise ValueError(f"{len(parties)} party qubits need {len(parties) - 1} x_flips, got {len(x_flips)}")
    for q, flip in zip(parties[1:], x_flips):
        if flip:
            backend.apply_pauli(q, _X, now)
    if z_flip:
        backend.apply_pauli(parties[0], _Z, now)
