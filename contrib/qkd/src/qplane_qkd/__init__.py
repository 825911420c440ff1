"""BBM92 quantum key distribution on the pairs a qplane network delivers (a qplane plugin)."""

from .bbm92 import Bbm92Application, Bbm92Params, binary_entropy, secret_fraction, werner_qber

__all__ = ["Bbm92Application", "Bbm92Params", "binary_entropy", "secret_fraction", "werner_qber"]
