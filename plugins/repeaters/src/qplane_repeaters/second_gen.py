"""Second-generation (2G) repeater chains: encoded Bell pairs, error correction, decoded swaps.

Scheme (Jiang et al., PRA 79, 032325 (2009)), as stim circuits
----------------------------------------------------------------
A chain of ``links`` links joins nodes ``0..links``. On link ``k`` node ``k`` holds code block
``A_k`` prepared in ``|+_L>`` and node ``k+1`` holds block ``B_k`` in ``|0_L>`` (noiseless
encoders: the blocks stand for verified, fault-tolerantly prepared ancillas). ``n`` heralded
physical Bell pairs ``(a_i, b_i)``, one per physical qubit of the block, apply a transversal
CNOT ``A_k → B_k`` by gate teleportation, qubit by qubit: node ``k`` does ``CX A_i a_i`` and
measures ``a_i`` in Z (outcome ``m1``), the classically controlled ``X^m1`` lands on ``b_i``;
node ``k+1`` does ``CX b_i B_i`` and measures ``b_i`` in X (outcome ``m2``), and ``Z^m2`` lands
on ``A_i``. Transversal CNOT of ``|+_L>|0_L>`` is ``|Phi+_L>``. The corrections are stim
feedback (``CX rec[..] q``), so the noiseless frame of each link is ``Phi+_L``.

Werner pairs of fidelity ``F``: a Werner state ``w·Phi+ + (1-w)·I/4`` is ``Phi+`` with one
qubit through the depolarizing channel ``ρ → (1-p)ρ + (p/3)(XρX + YρY + ZρZ)``, which is
stim's ``DEPOLARIZE1(p)``: then ``F = 1 - p``, so ``p = 1 - F = 3(1-w)/4``. It acts on ``b_i``.
An X (Y) there becomes an X on ``B_i``; a Z (Y) flips ``m2`` and becomes a Z on ``A_i``: each
physical pair error is a single-qubit error in each block.

Error correction at every node (``ec``): Steane-style syndrome extraction with a fresh
ancilla block (the link's communication qubits, reset and re-encoded): for X errors the
ancilla is ``|+_L>``, ``CX data → anc`` transversally, ancilla measured in Z, the ``hz``
syndrome of those bits is the data's X syndrome; for Z errors ``|0_L>``, ``CX anc → data``,
ancilla measured in X, ``hx`` syndrome. The corrections are Pauli frame updates applied in
decoding. ``ec="ideal"`` runs the same circuits without gate or measurement error,
``ec="none"`` skips it (the swaps' decoding then sees the errors of both links at once).

Swap at inner node ``k``: a transversal logical Bell measurement of ``B_(k-1)`` (control)
and ``A_k`` (target): ``CX`` qubit by qubit, ``B_(k-1)`` measured in X, ``A_k`` in Z. The
physical bits are decoded with the lookup table (``hz`` for the Z bits, ``hx`` for the X
bits) and the logical outcome is the parity of the corrected bits over ``lz`` (``lx``).

Readout (the referee, noiseless): ideal syndrome measurement (``MPP``) and correction of
each end block, then an ideal logical Bell measurement of the end blocks. The X frame is
right when the decoded ``Z_L Z_L`` equals the XOR of the swaps' ``Z_L`` outcomes, the Z frame
when ``X_L X_L`` equals the XOR of their ``X_L`` outcomes. Both are stim observables (0 and
1); the syndromes are stim detectors, so ``compile_detector_sampler`` gives everything
relative to the noiseless reference, and decoding is XOR algebra on the detector bits
(``sample``). ``sample_tableau`` is an independent computation: a ``stim.TableauSimulator``
run shot by shot that applies every correction physically and reads ``X_L X_L`` and
``Z_L Z_L`` of the end blocks with ``peek_observable_expectation``.

Gate and measurement errors (as ``hardware.operations`` gives them): ``DEPOLARIZE2(p)``
after every two-qubit gate of the teleported CNOTs, the syndrome extraction and the swaps;
an X (Z) flip with probability ``e`` before every Z (X) measurement of those steps. Memory
decoherence during the protocol is not modelled.

API
---
``SecondGenChain(code="steane", links=1, pair_fidelity=1.0, gate_error=0.0,
measurement_error=0.0, seed=None, ec="noisy")``

- ``sample(shots) -> (logical_error_rate, stderr)``: the probability that the delivered
  logical pair has the X or the Z frame wrong after decoding; stderr ``sqrt(r(1-r)/shots)``.
- ``sample_frames(shots) -> dict``: ``x_error_rate``, ``z_error_rate``, ``error_rate`` and
  their ``*_stderr``, ``shots``.
- ``sample_tableau(shots) -> (logical_error_rate, stderr)``: the independent tableau estimate.
- ``circuit``: the stim circuit (detectors and the two observables).
- ``physical_qubits_per_node -> {"end": 2n, "inner": 4n}``: code blocks plus the halves of
  the link's physical pairs (reused as syndrome ancillas).
- ``pairs_per_logical_pair -> n·links``: physical pairs consumed per delivered logical pair.

Every draw comes from ``numpy.random.default_rng(seed)``: each call takes a fresh stim seed
from it, so the same seed gives the same numbers.
"""

from __future__ import annotations

import math

import numpy as np
import stim

from .codes import CSSCode, get_code

EC_MODES = ("none", "ideal", "noisy")


class _Group:
    """A set of detectors decoded together: a syndrome extraction ("ec") or a measured block ("meas")."""

    def __init__(self, kind: str, err: str, block: int, det: list[int], meas: list[int], obs: int = -1):
        self.kind, self.err, self.block, self.det, self.meas, self.obs = kind, err, block, det, meas, obs
        self.dests: list[_Group] = []
        self.index = -1


class SecondGenChain:
    """A 2G chain of ``links`` encoded links and ``links - 1`` decoded swaps (see the module docstring)."""

    def __init__(self, code: str = "steane", links: int = 1, pair_fidelity: float = 1.0,
                 gate_error: float = 0.0, measurement_error: float = 0.0, seed: int | None = None,
                 ec: str = "noisy"):
        self.code: CSSCode = get_code(code)
        if not isinstance(links, int) or isinstance(links, bool) or links < 1:
            raise ValueError(f"links: expected an integer >= 1, got {links!r}")
        if not 0.25 <= pair_fidelity <= 1.0:
            raise ValueError(f"pair_fidelity: expected a Werner fidelity in [0.25, 1], got {pair_fidelity!r}")
        if not 0.0 <= gate_error <= 15 / 16:
            raise ValueError(f"gate_error: expected a probability in [0, 15/16], got {gate_error!r}")
        if not 0.0 <= measurement_error <= 0.5:
            raise ValueError(f"measurement_error: expected a probability in [0, 0.5], got {measurement_error!r}")
        if ec not in EC_MODES:
            raise ValueError(f"ec: expected one of {list(EC_MODES)}, got {ec!r}")
        self.links, self.pair_fidelity, self.ec = links, float(pair_fidelity), ec
        self.gate_error, self.measurement_error = float(gate_error), float(measurement_error)
        self._rng = np.random.default_rng(seed)
        self._build()

    # ---- resources ------------------------------------------------------------------------
    @property
    def physical_qubits_per_node(self) -> dict[str, int]:
        n = self.code.n
        return {"end": 2 * n, "inner": 4 * n}

    @property
    def pairs_per_logical_pair(self) -> int:
        return self.code.n * self.links

    # ---- circuit ----------------------------------------------------------------------------
    def _q(self, link: int, part: int) -> list[int]:
        """Qubits of link ``link``: part 0 block A, 1 block B, 2 pair halves a, 3 pair halves b."""
        n = self.code.n
        base = link * 4 * n + part * n
        return list(range(base, base + n))

    def _block(self, b: int) -> list[int]:
        """Block ``b``: ``2k`` is A_k, ``2k+1`` is B_k."""
        return self._q(b // 2, b % 2)

    def _measure(self, c: stim.Circuit, basis: str, qubits: list[int], noisy: bool) -> list[int]:
        if noisy and self.measurement_error > 0:
            c.append("Z_ERROR" if basis == "X" else "X_ERROR", qubits, self.measurement_error)
        c.append("MX" if basis == "X" else "M", qubits)
        start = self._nmeas
        self._nmeas += len(qubits)
        return list(range(start, self._nmeas))

    def _cx(self, c: stim.Circuit, controls: list[int], targets: list[int], noisy: bool) -> None:
        pairs = [q for ct in zip(controls, targets) for q in ct]
        c.append("CX", pairs)
        if noisy and self.gate_error > 0:
            c.append("DEPOLARIZE2", pairs, self.gate_error)

    def _detect(self, c: stim.Circuit, h: np.ndarray, meas: list[int]) -> list[int]:
        """One detector per row of ``h`` over the bits ``meas``; returns the detector indices."""
        out = []
        for row in h:
            recs = [stim.target_rec(meas[int(j)] - self._nmeas) for j in np.flatnonzero(row)]
            c.append("DETECTOR", recs)
            out.append(self._ndet)
            self._ndet += 1
        return out

    def _add(self, group: _Group) -> _Group:
        group.index = len(self.groups)
        self.groups.append(group)
        return group

    def _build(self) -> None:
        code, n, L = self.code, self.code.n, self.links
        self._nmeas = self._ndet = 0
        self.groups: list[_Group] = []
        seen: dict[tuple[int, str], list[_Group]] = {}  # (block, err) -> groups that see those errors

        def see(block: int, err: str, g: _Group) -> None:
            for earlier in seen.setdefault((block, err), []):
                if earlier.kind == "ec":
                    earlier.dests.append(g)
            seen[(block, err)].append(g)

        prep = stim.Circuit()
        for k in range(L):
            A, B, a, b = (self._q(k, p) for p in range(4))
            prep += code.encoder("+", A)
            prep += code.encoder("0", B)
            prep.append("H", a)
            prep.append("CX", [q for ab in zip(a, b) for q in ab])
            if self.pair_fidelity < 1:
                prep.append("DEPOLARIZE1", b, 1.0 - self.pair_fidelity)
        for k in range(L):  # teleported transversal CNOT A_k -> B_k
            A, B, a, b = (self._q(k, p) for p in range(4))
            self._cx(prep, A, a, True)
            self._measure(prep, "Z", a, True)
            for i in range(n):
                prep.append("CX", [stim.target_rec(i - n), b[i]])
            self._cx(prep, b, B, True)
            self._measure(prep, "X", b, True)
            for i in range(n):
                prep.append("CZ", [stim.target_rec(i - n), A[i]])

        ecc = stim.Circuit()
        if self.ec != "none":
            noisy = self.ec == "noisy"
            for blk in range(2 * L):
                data, anc = self._block(blk), self._q(blk // 2, 2 + blk % 2)
                ecc.append("R", anc)
                ecc += code.encoder("+", anc)
                self._cx(ecc, data, anc, noisy)
                meas = self._measure(ecc, "Z", anc, noisy)
                g = self._add(_Group("ec", "x", blk, self._detect(ecc, code.hz, meas), meas))
                see(blk, "x", g)
                if code.hx.shape[0]:
                    ecc.append("R", anc)
                    ecc += code.encoder("0", anc)
                    self._cx(ecc, anc, data, noisy)
                    meas = self._measure(ecc, "X", anc, noisy)
                    g = self._add(_Group("ec", "z", blk, self._detect(ecc, code.hx, meas), meas))
                    see(blk, "z", g)

        def bell(c: stim.Circuit, ctrl: int, tgt: int, noisy: bool) -> None:
            C, T = self._block(ctrl), self._block(tgt)
            self._cx(c, C, T, noisy)
            mx = self._measure(c, "X", C, noisy)
            mz = self._measure(c, "Z", T, noisy)
            gz = self._add(_Group("meas", "x", tgt, self._detect(c, code.hz, mz), mz, obs=0))
            gx = self._add(_Group("meas", "z", ctrl, self._detect(c, code.hx, mx), mx, obs=1))
            for blk in (ctrl, tgt):
                see(blk, "x", gz)
                see(blk, "z", gx)
            self._obs_bits[0] += [mz[int(j)] for j in np.flatnonzero(code.lz)]
            self._obs_bits[1] += [mx[int(j)] for j in np.flatnonzero(code.lx)]

        self._obs_bits: list[list[int]] = [[], []]
        swap = stim.Circuit()
        self.swaps = [(2 * k - 1, 2 * k) for k in range(1, L)]  # (B_(k-1), A_k)
        for ctrl, tgt in self.swaps:
            bell(swap, ctrl, tgt, True)

        readout = stim.Circuit()
        self.ends = (0, 2 * L - 1)
        for blk in self.ends:
            qs = self._block(blk)
            for err, h, p in (("x", code.hz, "Z"), ("z", code.hx, "X")):
                dets = []
                for row in h:
                    readout.append("MPP", [t for j in np.flatnonzero(row)
                                           for t in (stim.target_pauli(qs[int(j)], p), stim.target_combiner())][:-1])
                    self._nmeas += 1
                    readout.append("DETECTOR", [stim.target_rec(-1)])
                    dets.append(self._ndet)
                    self._ndet += 1
                if dets:
                    see(blk, err, self._add(_Group("ec", err, blk, dets, [])))
        bell(readout, self.ends[0], self.ends[1], False)
        for i, bits in enumerate(self._obs_bits):
            readout.append("OBSERVABLE_INCLUDE", [stim.target_rec(m - self._nmeas) for m in bits], i)

        self.segments = {"prep": prep, "ec": ecc, "swap": swap, "readout": readout}
        self.circuit = prep + ecc + swap + readout
        self.num_qubits = 4 * n * L

    # ---- decoding on detector bits (the main pipeline) --------------------------------------
    def _matrices(self, err: str) -> tuple[np.ndarray, np.ndarray]:
        return (self.code.hz, self.code.lz) if err == "x" else (self.code.hx, self.code.lx)

    def _decode(self, dets: np.ndarray, obs: np.ndarray) -> np.ndarray:
        """Logical frame errors (shots × 2: X frame, Z frame) after decoding every group in order."""
        obs = obs.astype(np.uint8).copy()
        acc = {g.index: np.zeros((dets.shape[0], len(g.det)), dtype=np.uint8) for g in self.groups}
        for g in self.groups:
            syn = dets[:, g.det].astype(np.uint8) ^ acc[g.index]
            corr = (self.code.decode_x if g.err == "x" else self.code.decode_z)(syn).astype(np.int64)
            if g.kind == "ec":
                for d in g.dests:
                    h, log = self._matrices(d.err)
                    acc[d.index] ^= ((corr @ h.T.astype(np.int64)) % 2).astype(np.uint8)
                    if d.kind == "meas":
                        obs[:, d.obs] ^= ((corr @ log.astype(np.int64)) % 2).astype(np.uint8)
            else:
                obs[:, g.obs] ^= ((corr @ self._matrices(g.err)[1].astype(np.int64)) % 2).astype(np.uint8)
        return obs

    def _seed(self) -> int:
        return int(self._rng.integers(2**62))

    def sample_errors(self, shots: int) -> np.ndarray:
        """The logical frame errors of ``shots`` delivered logical pairs, one row each:
        ``[X frame wrong, Z frame wrong]`` (booleans). The engine draws one row per pair."""
        if not isinstance(shots, int) or shots < 1:
            raise ValueError(f"shots: expected an integer >= 1, got {shots!r}")
        sampler = self.circuit.compile_detector_sampler(seed=self._seed())
        dets, obs = sampler.sample(shots, separate_observables=True)
        return self._decode(dets, obs).astype(bool)

    def sample_frames(self, shots: int) -> dict:
        """Sample ``shots`` delivered logical pairs; X-frame, Z-frame and either-frame error rates."""
        err = self.sample_errors(shots)
        out = {"shots": shots}
        for name, bad in (("x_error_rate", err[:, 0]), ("z_error_rate", err[:, 1]), ("error_rate", err.any(axis=1))):
            r = float(np.mean(bad))
            out[name], out[name.replace("rate", "stderr")] = r, math.sqrt(r * (1 - r) / shots)
        return out

    def sample(self, shots: int) -> tuple[float, float]:
        """(logical error rate, its standard error) of the delivered logical pair."""
        f = self.sample_frames(shots)
        return f["error_rate"], f["error_stderr"]

    # ---- independent check: shot-by-shot tableau simulation with physical corrections -------
    def _pauli(self, qubits: list[int], support: np.ndarray, p: str) -> stim.PauliString:
        s = stim.PauliString(self.num_qubits)
        for j in np.flatnonzero(support):
            s[qubits[int(j)]] = p
        return s

    def sample_tableau(self, shots: int) -> tuple[float, float]:
        """The logical error rate from ``stim.TableauSimulator``, corrections applied as gates."""
        code, bad = self.code, 0
        for _ in range(shots):
            sim = stim.TableauSimulator(seed=self._seed())
            sim.set_num_qubits(self.num_qubits)
            sim.do(self.segments["prep"])
            sim.do(self.segments["ec"])
            rec = np.array(sim.current_measurement_record(), dtype=np.uint8)
            for g in self.groups:
                if g.kind == "ec" and g.meas:
                    h = code.hz if g.err == "x" else code.hx
                    corr = (code.decode_x if g.err == "x" else code.decode_z)((h @ rec[g.meas]) % 2)
                    qs = [self._block(g.block)[int(j)] for j in np.flatnonzero(corr)]
                    if qs:
                        (sim.x if g.err == "x" else sim.z)(*qs)
            sim.do(self.segments["swap"])
            rec = np.array(sim.current_measurement_record(), dtype=np.uint8)
            frame = [0, 0]
            for g in self.groups:
                if g.kind == "meas" and g.meas and g.meas[-1] < len(rec):
                    h, log = self._matrices(g.err)
                    bits = rec[g.meas]
                    corr = (code.decode_x if g.err == "x" else code.decode_z)((h @ bits) % 2)
                    frame[g.obs] ^= int(((bits ^ corr) @ log) % 2)
            for blk in self.ends:  # ideal error correction of the end blocks
                qs = self._block(blk)
                for err, h, p in (("x", code.hz, "Z"), ("z", code.hx, "X")):
                    syn = np.array([[int(sim.peek_observable_expectation(self._pauli(qs, row, p)) < 0)
                                     for row in h]], dtype=np.uint8).reshape(1, h.shape[0])
                    corr = (code.decode_x if err == "x" else code.decode_z)(syn)[0]
                    if corr.any():
                        (sim.x if err == "x" else sim.z)(*[qs[int(j)] for j in np.flatnonzero(corr)])
            e1, e2 = self._block(self.ends[0]), self._block(self.ends[1])
            if frame[0]:
                sim.x(*[e2[int(j)] for j in np.flatnonzero(code.lx)])
            if frame[1]:
                sim.z(*[e2[int(j)] for j in np.flatnonzero(code.lz)])
            zz = sim.peek_observable_expectation(self._pauli(e1, code.lz, "Z") * self._pauli(e2, code.lz, "Z"))
            xx = sim.peek_observable_expectation(self._pauli(e1, code.lx, "X") * self._pauli(e2, code.lx, "X"))
            bad += int(zz != 1 or xx != 1)
        r = bad / shots
        return r, math.sqrt(r * (1 - r) / shots)
