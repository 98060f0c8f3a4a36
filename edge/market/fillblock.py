"""A round's fills block (edge/protocol/fills.py), made from its clearing.

Why from the clearing's columns: the block lists every order of the book,
100,000 at the largest, and any pass over that many Order objects costs about
half the clearing (it is memory-bound: each order is an object of its own). The
numpy clearing has already read the book into columns (``BookColumns``: the
C reader in edge/market/_columns.c also writes the id column, each id and a
newline), so the block is those columns and the clearing's traded and status
columns, packed little-endian by numpy. A small book cleared by the Python
path, or one without the C reader, takes the reference encoder, which gives the
same bytes (tests/market/test_fillblock.py compares both with an independent
packing) or names the fill that cannot be encoded.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence

from edge.market.clearing import STATUS_NAMES, Clearing, FillColumns, Order
from edge.protocol import fills as wire
from edge.protocol.types import MAX_SEQ

_CODE = {name: k for k, name in enumerate(STATUS_NAMES)}
assert tuple(wire.STATUSES) == STATUS_NAMES  # one numbering for the clearing and the wire


def fill_block(orders: Sequence[Order], clearing: Clearing) -> bytes:
    """The fills block of ``clearing``, the clearing of ``orders`` (in their order)."""
    fills = clearing.fills
    if isinstance(fills, FillColumns) and fills.book is not None:
        got = _from_columns(fills)
        if got is not None:
            return got
    return reference_block(orders, clearing)


def _from_columns(fills: FillColumns) -> bytes | None:
    """The block packed from the clearing's columns, or None outside their plain cases (no
    id column, more fills than a result carries, a seq outside the protocol's range: the
    clearing takes any distinct int64 seq)."""
    import numpy as np

    book = fills.book
    assert book is not None
    n = len(book.qty)
    if (book.ids is None or n > wire.MAX_FILLS or int(book.seq.min()) < 0
            or int(book.seq.max()) > MAX_SEQ):
        return None
    # the clearing checked the rest: seq unique, 1 <= qty < 2**31,
    # 0 <= price < 2**31, and each traded quantity and status come from that clearing
    traded, code = fills.arrays
    return b"".join((
        struct.pack("<4sI", wire.MAGIC, n),
        book.seq.astype("<u8").tobytes(), book.price.astype("<u4").tobytes(),
        book.qty.astype("<u4").tobytes(), traded.astype("<u4").tobytes(),
        np.logical_not(book.buy).astype(np.uint8).tobytes(), code.astype(np.uint8).tobytes(),
        book.ids,
    ))


def reference_block(orders: Sequence[Order], clearing: Clearing) -> bytes:
    """The block through ``edge.protocol.fills.encode``: the reference, and the way for a
    book the numpy path did not read."""
    fills = clearing.fills
    if isinstance(fills, FillColumns):
        qty, status = fills.qty, fills.status
    else:
        qty, status = [f.qty_wh for f in fills], [f.status for f in fills]
    return wire.encode([o.seq for o in orders], [o.price for o in orders],
                       [o.qty_wh for o in orders], qty,
                       [0 if o.side == "buy" else 1 for o in orders],
                       [_CODE[s] for s in status], [o.id for o in orders])
