"""qplane-southbound: the HAL of :mod:`qplane.hal` as a wire protocol.

* :mod:`.messages` — the versioned messages (``qplane.southbound/1``) and their JSON Schema;
* :mod:`.hub` — the controller's listener that node agents connect to, with heartbeat watching;
* :mod:`.handshake` — the connections that have not said hello yet, and their bounds;
* :mod:`.device` — :class:`RemoteDevice`, the :class:`qplane.hal.Device` that drives an agent;
* :mod:`.agent` — the node agent process (``qplane agent``).
"""

from .device import RemoteDevice
from .hub import AgentHub, NodeSpec, SouthboundError
from .messages import PROTOCOL, VERSION

__all__ = ["AgentHub", "NodeSpec", "PROTOCOL", "RemoteDevice", "SouthboundError", "VERSION"]
__version__ = "0.1.0"
