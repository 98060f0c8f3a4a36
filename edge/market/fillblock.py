"""A round's fills block (edge/protocol/fills.py), made from its clearing.

Why here and in C: the block lists every order of the book, 100,000 at the
largest, and a Python step per order would cost more than the clearing that
decided the fills. Where edge/market/_columns.c is built, ``fill_block`` writes
it in one pass over the cleared orders and the clearing's columns; anything
outside its plain cases (an id that is not a protocol Id, a value out of range,
a small book cleared without columns, more fills than the protocol allows)
takes the reference encoder, which gives the same bytes or names the bad fill.
tests/market/test_fillblock.py compares both ways.
"""

from __future__ import annotations

from collections.abc import Sequence

from edge.market.clearing import STATUS_NAMES, Clearing, FillColumns, Order, _native_columns
from edge.protocol import fills as wire

_CODE = {name: k for k, name in enumerate(STATUS_NAMES)}
assert tuple(wire.STATUSES) == STATUS_NAMES  # one numbering for the clearing and the wire


def fill_block(orders: Sequence[Order], clearing: Clearing) -> bytes:
    """The fills block of ``clearing``, the clearing of ``orders`` (in their order)."""
    fills = clearing.fills
    native = _native_columns()
    if native is not None and isinstance(fills, FillColumns) and hasattr(native, "fill_block"):
        traded, code = fills.arrays
        got = native.fill_block(orders if type(orders) is list else list(orders), Order,
                                traded, code)
        if got is not None:
            return got
    return reference_block(orders, clearing)


def reference_block(orders: Sequence[Order], clearing: Clearing) -> bytes:
    """The block through ``edge.protocol.fills.encode``: the reference, and the way where no
    C is built."""
    fills = clearing.fills
    if isinstance(fills, FillColumns):
        qty, status = fills.qty, fills.status
    else:
        qty, status = [f.qty_wh for f in fills], [f.status for f in fills]
    return wire.encode([o.seq for o in orders], [o.price for o in orders],
                       [o.qty_wh for o in orders], qty,
                       [0 if o.side == "buy" else 1 for o in orders],
                       [_CODE[s] for s in status], [o.id for o in orders])
