"""The fidelity-only state backend of qplane (Bell-diagonal pairs)."""

from .backend import FidelityBackend

__all__ = ["FidelityBackend"]
