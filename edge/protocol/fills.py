"""A round result's fills as binary columns, and the result frame that carries them.

Why a binary block instead of one JSON object per fill: at 100,000 orders the
JSON fills were 8.5 MB that the edge wrote, hashed twice for Ed25519, stored
twice and sent, about 15 times the clearing they report. The columns of the
same fills are about 2.3 MB, are made from the clearing's own arrays, and the
edge signs only their SHA-256 (``fills_sha256`` in the result's header), so a
round costs about its clearing again (docs/market.md "Where a round's time goes").

The block (all integers little-endian), for ``n`` fills in the cleared book's order::

    b"FIL1"  u32 n
    n x u64 seq        the order number
    n x u32 price      the quote as cleared (carbon adder applied)
    n x u32 order_wh   the order's quantity
    n x u32 qty_wh     the energy traded (0 unless filled or partial)
    n x u8  side       0 buy, 1 sell
    n x u8  status     0 unfilled, 1 partial, 2 filled, 3 excluded
    n ids, each an ``Id`` (ASCII, ``[A-Za-z0-9_.-]{1,32}``) followed by b"\\n"

The result frame, the payload of the result topic, is the signed header's canonical
JSON, one b"\\n" (canonical JSON never holds a raw newline) and the block. The chain
holds the header only: it commits to the fills by their hash, and the fills are also a
function of the bids on the same chain (simulator/books.py re-clears them).

A decoded fill is the dict the gateways and the tools read: ``order`` (interval-seq),
``gw``, ``side``, ``qty_wh``, ``status``, ``price``, ``seq``, ``order_wh``.
"""

from __future__ import annotations

import hashlib
import json
import re
import struct
from collections.abc import Sequence
from typing import Any

from edge.protocol.types import ID_PATTERN, MAX_PRICE, MAX_QTY_WH, MAX_SEQ

MAGIC = b"FIL1"
#: the most fills one result carries (the clearing's book limit is larger; a result is
#: also a message every gateway reads)
MAX_FILLS = 100_000
SIDES = ("buy", "sell")
STATUSES = ("unfilled", "partial", "filled", "excluded")
#: bytes per fill before its id: seq, price, order_wh, qty_wh, side, status
FIXED = 8 + 4 + 4 + 4 + 1 + 1
_IDS = re.compile((ID_PATTERN[1:-1] + "\n").encode())
_HEAD = struct.Struct("<4sI")


class FillsError(ValueError):
    """A fills block or result frame that does not decode; the message says what is wrong."""


def encode(seq: Sequence[int], price: Sequence[int], order_wh: Sequence[int],
           qty_wh: Sequence[int], side: Sequence[int], status: Sequence[int],
           ids: Sequence[str]) -> bytes:
    """The block of these columns (``side`` and ``status`` as codes): the reference way.

    The edge's round makes the same bytes from the clearing's arrays
    (``edge.market.fillblock``); this one packs plain sequences and checks every value,
    for small books and the tests.
    """
    n = len(ids)
    if n > MAX_FILLS:
        raise FillsError(f"{n} fills exceed the protocol's {MAX_FILLS} per result")
    cols = (seq, price, order_wh, qty_wh, side, status)
    if any(len(c) != n for c in cols):
        raise FillsError("fill columns differ in length")
    for i in range(n):
        _check(i, seq[i], price[i], order_wh[i], qty_wh[i], side[i], status[i])
    idbytes = "".join(f"{x}\n" for x in ids).encode("ascii", "replace")
    if not all(isinstance(x, str) for x in ids) or not _ids_ok(idbytes, n):
        i = next(i for i, x in enumerate(ids)
                 if not isinstance(x, str) or _IDS.fullmatch(f"{x}\n".encode()) is None)
        raise FillsError(f"fill {i}: id {ids[i]!r} is not an Id ([A-Za-z0-9_.-]{{1,32}})")
    return b"".join((
        _HEAD.pack(MAGIC, n),
        struct.pack(f"<{n}Q", *seq), struct.pack(f"<{n}I", *price),
        struct.pack(f"<{n}I", *order_wh), struct.pack(f"<{n}I", *qty_wh),
        bytes(side), bytes(status), idbytes,
    ))


def _ids_ok(idbytes: bytes, n: int) -> bool:
    """``idbytes`` is exactly n Ids, each ended by a newline (nothing between or after)."""
    found = _IDS.findall(idbytes)
    return len(found) == n and sum(map(len, found)) == len(idbytes)


def _check(i: int, seq: int, price: int, order_wh: int, qty: int, side: int,
           status: int) -> None:
    for name, v in (("seq", seq), ("price", price), ("order_wh", order_wh), ("qty_wh", qty),
                    ("side", side), ("status", status)):
        if type(v) is not int:  # a bool or a float would pack as a number it is not
            raise FillsError(f"fill {i}: {name} must be an integer, got {v!r}")
    if not 0 <= seq <= MAX_SEQ:
        raise FillsError(f"fill {i}: seq {seq} outside [0, {MAX_SEQ}]")
    if not 0 <= price <= MAX_PRICE:
        raise FillsError(f"fill {i}: price {price} outside [0, {MAX_PRICE}]")
    if not 1 <= order_wh <= MAX_QTY_WH:
        raise FillsError(f"fill {i}: order_wh {order_wh} outside [1, {MAX_QTY_WH}]")
    if not 0 <= qty <= order_wh:
        raise FillsError(f"fill {i}: qty_wh {qty} outside [0, order_wh {order_wh}]")
    if side not in (0, 1):
        raise FillsError(f"fill {i}: side code {side} is not 0 (buy) or 1 (sell)")
    if status not in (0, 1, 2, 3):
        raise FillsError(f"fill {i}: status code {status} is not 0 to 3")
    if (status == 2) != (qty == order_wh) or (status == 1) != (0 < qty < order_wh):
        raise FillsError(f"fill {i}: status {STATUSES[status]} does not match "
                         f"{qty} of {order_wh} Wh traded")


def count(blob: bytes) -> int:
    """The number of fills a block says it holds (checked against its length by ``decode``)."""
    if len(blob) < _HEAD.size or blob[:4] != MAGIC:
        raise FillsError("not a fills block (magic FIL1 missing)")
    return _HEAD.unpack_from(blob)[1]


def decode(blob: bytes, interval: int) -> list[dict[str, Any]]:
    """The fills of a block, each value bounded before use; FillsError says what is wrong.

    Hostile input: the count is checked against the protocol's limit and the block's
    length before anything is allocated for it.
    """
    n = count(blob)
    if n > MAX_FILLS:
        raise FillsError(f"{n} fills exceed the protocol's {MAX_FILLS} per result")
    ids_at = _HEAD.size + n * FIXED
    # each id is 2 to 33 bytes with its newline: bound the length before reading columns
    if not ids_at + 2 * n <= len(blob) <= ids_at + 33 * n:
        raise FillsError(f"a block of {n} fills cannot be {len(blob)} bytes")
    off = _HEAD.size
    seq = struct.unpack_from(f"<{n}Q", blob, off)
    off += 8 * n
    price, order_wh, qty = (struct.unpack_from(f"<{n}I", blob, off + 4 * n * k)
                            for k in range(3))
    off += 12 * n
    side, status = blob[off:off + n], blob[off + n:off + 2 * n]
    idbytes = blob[ids_at:]
    if not _ids_ok(idbytes, n):
        raise FillsError("the block's ids are not n Ids, each ended by a newline")
    ids = idbytes[:-1].decode("ascii").split("\n") if n else []
    out = []
    for i in range(n):
        _check(i, seq[i], price[i], order_wh[i], qty[i], side[i], status[i])
        out.append({"order": f"{interval}-{seq[i]}", "gw": ids[i], "side": SIDES[side[i]],
                    "qty_wh": qty[i], "status": STATUSES[status[i]], "price": price[i],
                    "seq": seq[i], "order_wh": order_wh[i]})
    return out


def digest(blob: bytes) -> str:
    """``fills_sha256`` of a block: what the signed header commits to."""
    return hashlib.sha256(blob).hexdigest()


def frame(header: bytes, blob: bytes) -> bytes:
    """The result topic's payload: the signed header's canonical bytes, a newline, the block."""
    return b"".join((header, b"\n", blob))


def split(payload: bytes) -> tuple[bytes, bytes]:
    """(header bytes, block) of a result frame; FillsError when there is no header line."""
    at = payload.find(b"\n")
    if at < 0:
        raise FillsError("a result frame needs its header line and its fills block")
    return payload[:at], payload[at + 1:]


def read(payload: bytes) -> dict[str, Any]:
    """A result frame as one dict: the header's members and its decoded ``fills``.

    The block is checked against the header's ``fills_n`` and ``fills_sha256``; the
    header's signature is not (``edge.protocol.auth.check_signature`` of the header does
    that, as the gateways do): for tools and tests that read what the edge published.
    """
    head, block = split(payload)
    try:
        header = json.loads(head)
    except ValueError as exc:
        raise FillsError(f"the result frame's header is not JSON: {exc}") from None
    if not isinstance(header, dict) or "fills" in header:
        raise FillsError("the result frame's header must be an object without fills")
    interval, n = header.get("interval"), header.get("fills_n")
    if type(interval) is not int or type(n) is not int:
        raise FillsError("the result frame's header needs integer interval and fills_n")
    if header.get("fills_sha256") != digest(block):
        raise FillsError("the fills block does not match the header's fills_sha256")
    if n != count(block):
        raise FillsError("the fills block does not hold the header's fills_n fills")
    return {**header, "fills": decode(block, interval)}
