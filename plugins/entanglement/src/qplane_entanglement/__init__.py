"""Entanglement management of qplane: heralded link generation, swapping, delivery."""

from .generation import HeraldedLinkGenerator, HeraldedParams
from .swapping import AsapSwapPolicy, PairRecord

__all__ = ["AsapSwapPolicy", "HeraldedLinkGenerator", "HeraldedParams", "PairRecord"]
