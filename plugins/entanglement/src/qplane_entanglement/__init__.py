"""Entanglement management of qplane: heralded link generation, swapping, delivery."""

from .generation import HeraldedLinkGenerator, HeraldedParams
from .swapping import AsapSwapPolicy, NestedSwapPolicy, PairRecord

__all__ = ["AsapSwapPolicy", "NestedSwapPolicy", "HeraldedLinkGenerator", "HeraldedParams", "PairRecord"]
