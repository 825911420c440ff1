"""Purification protocols (recurrence on one link).

A purification protocol is a named component whose object tells the swapping policy what to
do with heralded link pairs before they are swapped: ``protocol`` (the circuit the backend
runs, see :meth:`qplane.backend.StateBackend.purify`), ``rounds`` (recurrence levels: two pairs
that have survived ``k`` rounds are purified into one of level ``k+1``; a pair reaches the
swapping stage at level ``rounds``) and ``scope`` (``link``: between the two ends of a link).

Each round: both nodes run the local circuit, measure the sacrificed pair and send their bit to
the other end; both know the result one link delay (L / c) later. The sacrificed memories are
free at once; the kept pair waits for the result, decohering meanwhile, and is freed on failure.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from qplane.backend import Capability


class NoParams(BaseModel):
    model_config = ConfigDict(extra="forbid")


class RecurrenceParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    rounds: int = Field(1, ge=1, le=8, description="recurrence rounds on every link (2**rounds link pairs per purified pair)")
    scope: Literal["link"] = Field("link", description="where pairs are purified: on each link")


class NoPurification:
    """No purification: pairs are swapped as heralded."""

    protocol = None
    rounds = 0
    scope = "link"

    def __init__(self, params: NoParams, sim: Any):
        self.params = params


class _Recurrence:
    protocol = ""
    requires_capabilities = frozenset({Capability.PURIFICATION})

    def __init__(self, params: RecurrenceParams, sim: Any):
        self.params = params
        self.rounds = params.rounds
        self.scope = params.scope


class Bbpssw(_Recurrence):
    """BBPSSW (Bennett et al., PRL 76, 722 (1996)): twirl both pairs to Werner form, bilateral
    CNOT, keep when the measured bits agree. On Werner pairs
    ``F' = (F² + ((1-F)/3)²) / N``, ``N = F² + 2F(1-F)/3 + 5((1-F)/3)²``."""

    protocol = "bbpssw"


class Dejmps(_Recurrence):
    """DEJMPS (Deutsch et al., PRL 77, 2818 (1996)): local rotations, bilateral CNOT, keep when
    the bits agree. On Bell-diagonal (A, B, C, D): ``A' = (A² + B²)/N``, ``B' = 2CD/N``,
    ``C' = (C² + D²)/N``, ``D' = 2AB/N``, ``N = (A + B)² + (C + D)²``."""

    protocol = "dejmps"
