"""The value types every part of the stack shares, defined once.

Ids, key ids, hashes, signatures, prices, quantities and sides appear in the
wire messages, the site config, the chain, the hub's API and the hub's
registry. Each is written here exactly once, both as a pydantic type (for
models) and as a pattern or bound (for code that checks a plain string or
integer, e.g. a URL path segment or an HTTP header), so the edge, the hub
and the config cannot drift apart.

The types are strict (no coercion of "5" to 5 or 5 to "5"): everything that
is hashed, tagged or signed must arrive as exactly the type it is.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import Field, Strict

#: Site, gateway, device and participant ids: short, ASCII, safe in MQTT topics and paths.
ID_PATTERN = r"^[A-Za-z0-9_.-]{1,32}$"
#: A producer's identity: the hex of a raw 32-byte Ed25519 public key (also any SHA-256 hex).
KEY_ID_PATTERN = r"^[0-9a-f]{64}$"
#: An Ed25519 signature: 64 bytes as lower-case hex.
SIG_PATTERN = r"^[0-9a-f]{128}$"

ID_RE = re.compile(ID_PATTERN)
KEY_ID_RE = re.compile(KEY_ID_PATTERN)
SIG_RE = re.compile(SIG_PATTERN)

#: Largest price in micro-currency per kWh: the PL clears 32-bit prices.
MAX_PRICE = (1 << 31) - 1
#: Largest quantity of one order in Wh (32-bit on the PL as well).
MAX_QTY_WH = (1 << 31) - 1
#: Sequence numbers and timestamps stay exact in every JSON implementation.
MAX_SEQ = (1 << 53) - 1
MAX_TS_MS = (1 << 53) - 1

Id = Annotated[str, Strict(), Field(pattern=ID_PATTERN)]
KeyId = Annotated[str, Strict(), Field(pattern=KEY_ID_PATTERN)]
#: 32 bytes as lower-case hex: a key id, a block hash, a Merkle root, an HMAC tag.
Hex32 = KeyId
#: 64 bytes as lower-case hex: an Ed25519 signature.
Hex64 = Annotated[str, Strict(), Field(pattern=SIG_PATTERN)]
Price = Annotated[int, Strict(), Field(ge=0, le=MAX_PRICE)]
QtyWh = Annotated[int, Strict(), Field(ge=1, le=MAX_QTY_WH)]
Seq = Annotated[int, Strict(), Field(ge=0, le=MAX_SEQ)]
# The protocol version. Not Literal[1]: pydantic lets True through a literal 1.
Version1 = Annotated[int, Strict(), Field(ge=1, le=1)]
TsMs = Annotated[int, Strict(), Field(ge=0, le=MAX_TS_MS)]

Side = Literal["buy", "sell"]
SIDES: tuple[Side, Side] = ("buy", "sell")


def is_id(value: object) -> bool:
    """True for a well-formed site/gateway/participant id."""
    return isinstance(value, str) and ID_RE.fullmatch(value) is not None


def is_key_id(value: object) -> bool:
    """True for a well-formed producer id (64 lower-case hex digits)."""
    return isinstance(value, str) and KEY_ID_RE.fullmatch(value) is not None


def is_price(value: object) -> bool:
    """True for an integer price the market and the PL can clear."""
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= MAX_PRICE
