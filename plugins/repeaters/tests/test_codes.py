"""The CSS codes of qplane_repeaters.codes: commutation, syndromes, decoders, encoders."""

from itertools import product

import numpy as np
import pytest
import stim

from qplane_repeaters.codes import get_code, rref


def commute(a: stim.PauliString, b: stim.PauliString) -> bool:
    return a.commutes(b)


@pytest.mark.parametrize("name", ["repetition", "steane"])
def test_stabilizers_commute_and_logicals_anticommute(name):
    code = get_code(name)
    stabs = code.stabilizers()
    assert len(stabs) == code.hx.shape[0] + code.hz.shape[0]
    for a, b in product(stabs, stabs):
        assert commute(a, b)
    lx, lz = code.logical_x(), code.logical_z()
    for s in stabs:
        assert commute(s, lx) and commute(s, lz)
    assert not commute(lx, lz)
    # independent generators over GF(2): n - k of them for k = 1 logical qubit
    assert len(rref(code.hx)[1]) + len(rref(code.hz)[1]) == code.n - 1


def single_errors(n, paulis):
    for q in range(n):
        for p in paulis:
            yield q, p


def syndromes(code, x, z):
    """(hz·x, hx·z) mod 2 for X-error pattern x and Z-error pattern z."""
    return tuple((code.hz @ x) % 2), tuple((code.hx @ z) % 2)


@pytest.mark.parametrize("name,paulis", [("steane", "XYZ"), ("repetition", "X")])
def test_single_errors_have_distinct_syndromes_and_are_corrected(name, paulis):
    code = get_code(name)
    seen = {}
    for q, p in single_errors(code.n, paulis):
        x = np.zeros(code.n, dtype=np.uint8)
        z = np.zeros(code.n, dtype=np.uint8)
        x[q] = p in "XY"
        z[q] = p in "ZY"
        s = syndromes(code, x, z)
        assert s != (tuple([0] * code.hz.shape[0]), tuple([0] * code.hx.shape[0]))
        assert s not in seen, f"{p}{q} shares its syndrome with {seen[s]}"
        seen[s] = f"{p}{q}"
        cx = code.decode_x(np.array([s[0]]))[0]
        cz = code.decode_z(np.array([s[1]]))[0]
        # the residual is a stabilizer: zero syndrome and no logical flip
        rx, rz = x ^ cx, z ^ cz
        assert not (code.hz @ rx % 2).any() and not (code.hx @ rz % 2).any()
        assert int(rx @ code.lz) % 2 == 0 and int(rz @ code.lx) % 2 == 0


def test_steane_weight_two_errors_are_logical_failures():
    """Distance 3: every weight-2 X error is decoded into a logical X."""
    code = get_code("steane")
    for i in range(7):
        for j in range(i + 1, 7):
            e = np.zeros(7, dtype=np.uint8)
            e[[i, j]] = 1
            r = e ^ code.decode_x(np.array([(code.hz @ e) % 2]))[0]
            assert int(r @ code.lz) % 2 == 1


@pytest.mark.parametrize("name", ["repetition", "steane"])
@pytest.mark.parametrize("state", ["0", "+"])
def test_encoders_prepare_the_logical_states(name, state):
    code = get_code(name)
    sim = stim.TableauSimulator()
    sim.set_num_qubits(code.n)
    sim.do(code.encoder(state, list(range(code.n))))
    for s in code.stabilizers():
        assert sim.peek_observable_expectation(s) == 1
    logical = code.logical_z() if state == "0" else code.logical_x()
    assert sim.peek_observable_expectation(logical) == 1


def test_unknown_code_is_a_one_line_error():
    with pytest.raises(ValueError, match="code: expected one of"):
        get_code("surface")
