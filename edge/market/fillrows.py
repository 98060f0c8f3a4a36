"""A round result's fills: the rows of the message and their canonical bytes, made together.

Why: at 100,000 orders a result is one list of 100,000 small objects, and the plain way
(build the dicts, walk them for the canonical checks, encode them with the json module)
cost about 15 times the clearing it reports. The rows are made from a validated clearing
(exact str ids, integers below 2**31, a known side and status), so they need no walk, and
their bytes written in the same pass: in C where edge/market/_columns.c is built
(``result_fills``: the exact bytes ``edge.protocol.canonical.canonical(rows)`` gives, which
tests compare), else the plain way. Anything outside the C pass's plain cases (an id that
needs escaping, a small book cleared without columns) takes the plain way too. The message
signs and publishes those bytes as they are.

A final result's row is ``{gw, order, qty_wh, side, status}``; a non-final one also
carries the book the participants answer (``price``, ``seq``, ``order_wh``: docs/market.md
"Rounds").
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from edge.market.clearing import STATUS_NAMES, Clearing, FillColumns, Order, _native_columns
from edge.protocol.canonical import canonical


def fill_rows(interval: int, orders: Sequence[Order], clearing: Clearing,
              book: bool) -> tuple[list[dict[str, Any]], bytes]:
    """(rows, canonical bytes of rows) of ``clearing``, the clearing of ``orders``.

    ``book``: also each order's price, seq and quantity (a non-final round).
    """
    fills = clearing.fills
    native = _native_columns()
    if native is not None and isinstance(fills, FillColumns) and hasattr(native, "result_fills"):
        traded, code = fills.arrays
        got = native.result_fills(orders if type(orders) is list else list(orders), Order,
                                  traded.tobytes(), code.tobytes(), STATUS_NAMES, interval, book)
        if got is not None:
            return got
    return _python_rows(interval, orders, clearing, book)


def _python_rows(interval: int, orders: Sequence[Order], clearing: Clearing,
                 book: bool) -> tuple[list[dict[str, Any]], bytes]:
    """The rows and ``canonical`` of them: the reference, and the way where no C is built."""
    fills = clearing.fills
    if isinstance(fills, FillColumns):
        qty, status = fills.qty, fills.status
    else:
        qty, status = [f.qty_wh for f in fills], [f.status for f in fills]
    if book:
        rows = [{"order": f"{interval}-{o.seq}", "gw": o.id, "side": o.side, "qty_wh": q,
                 "status": st, "price": o.price, "seq": o.seq, "order_wh": o.qty_wh}
                for o, q, st in zip(orders, qty, status, strict=True)]
    else:
        rows = [{"order": f"{interval}-{o.seq}", "gw": o.id, "side": o.side, "qty_wh": q,
                 "status": st} for o, q, st in zip(orders, qty, status, strict=True)]
    return rows, canonical(rows)
