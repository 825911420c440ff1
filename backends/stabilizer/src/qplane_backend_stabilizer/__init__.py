"""The stabilizer state backend of qplane (stim tableaus, sampled Pauli noise)."""

from .backend import StabilizerBackend, StabilizerParams

__all__ = ["StabilizerBackend", "StabilizerParams"]
