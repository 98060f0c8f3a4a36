"""The wire protocol between gateways, the edge hub and the central hub.

`canonical` is the one byte encoding used for every hash, tag and signature;
`messages` holds the models; `codec` turns raw bytes into validated models
with a reason code for every rejection; `auth` tags and signs.
"""

from edge.protocol.canonical import canonical
from edge.protocol.errors import ProtocolError, Reason

__all__ = ["ProtocolError", "Reason", "canonical"]
