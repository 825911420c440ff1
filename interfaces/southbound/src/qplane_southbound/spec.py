"""The committed JSON Schema of the messages: ``interfaces/southbound/messages.schema.json``.

Regenerate after changing :mod:`qplane_southbound.messages`::

    python -m qplane_southbound.spec > interfaces/southbound/messages.schema.json

A test checks that the committed file equals :func:`qplane_southbound.messages.schema_text`.
"""

import sys

from .messages import schema_text

if __name__ == "__main__":
    sys.stdout.write(schema_text())
