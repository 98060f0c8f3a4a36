"""The two clearing rules of the local market, as pure integer functions.

``clear_uniform`` is the P5 uniform-price double auction with exclusion of
incompatible limits; ``merit_order`` is the P1 welfare clearing without a
network. Both follow the clearing rules of docs/market.md to the letter
because the PL kernel in hls/ implements the same rules in C++ and is tested
bit-exact against this module; every corner the rules leave open is decided
in docs/market.md and nowhere else.

Two paths, one loop. Small books (the common case on the lean edge) clear
in pure Python: one ``list.sort`` plus prefix sums and binary search keeps
each exclusion iteration at O(log N) after an O(N log N) sort, and building
numpy arrays would cost more than the whole clearing. From
``NUMPY_FROM`` orders on, the columns go to numpy once (read in one pass by
a small C helper, edge/market/_columns.c, built at install time because
numpy cannot read object attributes and list comprehensions cost more than
the whole clearing after them; in Python where it is not built): one sort
of a packed 64-bit (side, priority price, seq) key, ``cumsum`` for the prefix sums, and
the fills come back as columns (``FillColumns``) that make ``Fill`` objects
only when read. Both paths run the same exclusion loop on their prefix sums,
so they agree bit for bit (property-tested against each other and against an
independent reference).

The key fact that makes it fast: an exclusion only ever removes the tail of
one side's priority order (buyers bidding below the price are the lowest
bids; sellers asking above it are the highest asks), so the active set is
always a prefix of each sorted side and one prefix sum serves every
iteration.
"""

from __future__ import annotations

import logging
from bisect import bisect_left, bisect_right
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import lru_cache
from itertools import accumulate
from operator import attrgetter
from typing import Literal

from edge.extensions import optional

log = logging.getLogger(__name__)

Side = Literal["buy", "sell"]
Status = Literal["filled", "partial", "unfilled", "excluded"]
Regime = Literal["buyers_market", "sellers_market", "balanced", "no_trade"]

#: Exclusive upper bound of prices and of single quantities (the PL's 32-bit words).
LIMIT = 2**31
#: Most orders one clearing takes (the PL kernel's buffer size).
MAX_ORDERS = 2**20

SIDES = ("buy", "sell")
_SEQ = attrgetter("seq")
_PRICE = attrgetter("price")


@dataclass(frozen=True, slots=True)
class Order:
    """One limit order: energy in Wh, limit price in micro-currency per kWh.

    ``seq`` is the submission order (lower = earlier); it breaks price ties.
    """

    id: str
    side: Side
    qty_wh: int
    price: int
    seq: int


@dataclass(frozen=True, slots=True)
class Fill:
    """What one order got: ``qty_wh`` is the traded energy (0 unless traded)."""

    order_id: str
    side: Side
    qty_wh: int
    status: Status


@dataclass(frozen=True, slots=True)
class Clearing:
    """Result of ``clear_uniform``: one fill per input order, in input order."""

    price: int | None
    volume_wh: int
    regime: Regime
    fills: tuple[Fill, ...]


@dataclass(frozen=True, slots=True)
class Unit:
    """A P1 entity: a generator (offer ``price``) or a load (bid ``price``)."""

    id: str
    qmin_wh: int
    qmax_wh: int
    price: int
    seq: int


@dataclass(frozen=True)
class Dispatch:
    """Result of ``merit_order``: Wh per unit id (every unit listed, 0 when idle)."""

    price: int | None
    volume_wh: int
    gen_wh: dict[str, int]
    load_wh: dict[str, int]
    relaxed: bool


def _is_int(v: object) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _check_int(what: str, name: str, v: object, lo: int, hi: int = LIMIT) -> None:
    if not _is_int(v):
        raise ValueError(f"{what}: {name} must be an integer, got {v!r}")
    if not lo <= v < hi:  # type: ignore[operator]
        raise ValueError(f"{what}: {name} {v} is outside [{lo}, {hi})")


def validate_order(o: Order, label: str) -> None:
    """Raise ValueError starting with ``label`` when one order breaks the input rules."""
    if not isinstance(o.id, str) or not o.id:
        raise ValueError(f"{label}: id must be a non-empty string, got {o.id!r}")
    if o.side not in SIDES:
        raise ValueError(f"{label}: side must be 'buy' or 'sell', got {o.side!r}")
    _check_int(label, "qty_wh", o.qty_wh, 1)
    _check_int(label, "price", o.price, 0)
    if not _is_int(o.seq):
        raise ValueError(f"{label}: seq must be an integer, got {o.seq!r}")


def validate_orders(orders: Sequence[Order]) -> None:
    """Raise ValueError naming the first bad order; accept silently otherwise.

    A whole-column fast check runs first (it costs a few passes of C-level
    builtins); only when it fails does the order-by-order walk run to name
    the culprit, so a valid 100,000-order book is checked in milliseconds.
    """
    if len(orders) > MAX_ORDERS:
        raise ValueError(f"{len(orders)} orders exceed the limit of {MAX_ORDERS} per clearing")
    if _all_valid(orders):
        return
    ids: set[str] = set()
    seqs: set[int] = set()
    for i, o in enumerate(orders):
        if not isinstance(o, Order):
            raise ValueError(f"orders[{i}] is a {type(o).__name__}, not an Order")
        named = isinstance(o.id, str) and o.id
        label = f"order {o.id!r} (orders[{i}])" if named else f"orders[{i}]"
        validate_order(o, label)
        if o.id in ids:
            raise ValueError(f"{label}: duplicate id")
        if o.seq in seqs:
            raise ValueError(f"{label}: duplicate seq {o.seq}")
        ids.add(o.id)
        seqs.add(o.seq)


def _all_valid(orders: Sequence[Order]) -> bool:
    """True when every rule holds; False (never an exception) when any may not."""
    n = len(orders)
    if n == 0:
        return True
    if set(map(type, orders)) != {Order}:
        return False
    qty = [o.qty_wh for o in orders]
    price = [o.price for o in orders]
    seq = [o.seq for o in orders]
    ids = [o.id for o in orders]
    try:
        return (
            set(map(type, qty)) == set(map(type, price)) == set(map(type, seq)) == {int}
            and set(map(type, ids)) == {str}  # exact types: bools and str subclasses go slow
            and min(qty) >= 1
            and max(qty) < LIMIT
            and min(price) >= 0
            and max(price) < LIMIT
            and {o.side for o in orders} <= set(SIDES)
            and len(set(seq)) == n
            and len(set(ids)) == n
            and "" not in ids
        )
    except TypeError:  # an unhashable side: let the slow walk name it
        return False


def _has_duplicates(a) -> bool:
    import numpy as np

    s = np.sort(a)
    return bool(np.any(s[1:] == s[:-1]))


def _numpy_columns(orders: Sequence[Order]):
    """(buy mask, qty, price, seq) as numpy arrays and the ids as newline-ended bytes (None
    where the C reader is not built or an id is not a protocol Id) when every input rule
    holds, else None.

    The same rules as ``_all_valid``, checked by column: exact int and str
    types on Python lists (C-level ``set(map(type, ...))``), ranges and
    uniqueness in numpy. Never raises; None sends the caller to the Python
    path, which names the culprit.
    """
    import numpy as np

    n = len(orders)
    if not 0 < n <= MAX_ORDERS:
        return None
    from .columns import Columnar

    if type(orders) is Columnar:  # written by the book as the quotes came: unique ids, seqs
        c = orders.columns
        qty, price, seq = (np.frombuffer(a, dtype=np.int64) for a in (c.qty, c.price, c.seq))
        buy = np.frombuffer(c.buy, dtype=np.bool_)
        if qty.min() < 1 or qty.max() >= LIMIT or price.min() < 0 or price.max() >= LIMIT:
            return None
        return buy, qty, price, seq, c.ids
    native = _native_columns()
    if native is not None:
        raw = native.order_columns(orders if type(orders) is list else list(orders), Order)
        if raw is None:
            return None
        qty, price, seq, hashes = (np.frombuffer(b, dtype=np.int64) for b in raw[:4])
        buy = np.frombuffer(raw[4], dtype=np.bool_)
        return _checked(orders, buy, qty, price, seq, hashes, raw[5])
    if set(map(type, orders)) != {Order}:
        return None
    qty_l = [o.qty_wh for o in orders]
    price_l = [o.price for o in orders]
    seq_l = [o.seq for o in orders]
    ids = [o.id for o in orders]
    side = [o.side for o in orders]
    if not (set(map(type, qty_l)) == set(map(type, price_l)) == set(map(type, seq_l)) == {int}
            and set(map(type, ids)) == {str}):
        return None
    try:
        if not set(side) <= set(SIDES):
            return None
        qty = np.array(qty_l, dtype=np.int64)
        price = np.array(price_l, dtype=np.int64)
        seq = np.array(seq_l, dtype=np.int64)
    except (OverflowError, TypeError, ValueError):  # beyond 64 bits, or an odd side object
        return None
    # Every side is "buy" (3 letters) or "sell" (4), as checked above.
    buy = np.frombuffer(bytes(map(len, side)), dtype=np.uint8) == 3
    return _checked(orders, buy, qty, price, seq, np.fromiter(map(hash, ids), np.int64, n), None)


def _checked(orders: Sequence[Order], buy, qty, price, seq, hashes, ids: bytes | None):
    """The columns when ranges and uniqueness hold, else None."""
    if qty.min() < 1 or qty.max() >= LIMIT or price.min() < 0 or price.max() >= LIMIT:
        return None
    if _has_duplicates(seq):
        return None
    # Ids: unique when their hashes are; equal hashes (or hash 0, which "" has) get the
    # exact check, so a collision costs time, never a wrong answer.
    if _has_duplicates(hashes) or not hashes.all():
        names = [o.id for o in orders]
        if len(set(names)) != len(names) or "" in names:
            return None
    return buy, qty, price, seq, ids


@lru_cache(maxsize=1)
def _native_columns():
    """edge.market._columns (built at install time), or None: then columns are read in Python."""
    return optional("edge.market._columns", "native column reader", "reading columns in Python",
                    log)


#: From this many orders on, clear_uniform takes the numpy path: below it, reading the
#: columns costs more than the pure-Python clearing. Where the C column reader is built the
#: crossover is a few dozen orders, else about a thousand (measured: bench/bench_clearing.py
#: prints both paths).
NUMPY_FROM = 2_000
NUMPY_FROM_NATIVE = 64


def numpy_from() -> int:
    """The book size from which clear_uniform takes the numpy path on this install."""
    return NUMPY_FROM_NATIVE if _native_columns() is not None else NUMPY_FROM


def clear_uniform(orders: Sequence[Order]) -> Clearing:
    """P5 uniform-price clearing with exclusion of incompatible limits.

    Raises ValueError (naming the order) on invalid input; never on a valid
    book, however degenerate (empty, one side only, all at one price).
    """
    if len(orders) >= numpy_from():
        fast = clear_uniform_numpy(orders)
        if fast is not None:
            return fast
    return clear_uniform_python(orders)


def clear_uniform_python(orders: Sequence[Order]) -> Clearing:
    """The pure-Python path: every input, any size (the reference for the numpy path)."""
    validate_orders(orders)
    # Two stable single-key sorts (seq, then price) are the (price, seq) order, and
    # Python's reverse sort keeps ties stable, so bids come out (price desc, seq asc).
    sells = sorted((o for o in orders if o.side == "sell"), key=_SEQ)
    sells.sort(key=_PRICE)
    buys = sorted((o for o in orders if o.side == "buy"), key=_SEQ)
    buys.sort(key=_PRICE, reverse=True)
    asks = [o.price for o in sells]
    neg_bids = [-o.price for o in buys]  # ascending, for bisect
    cum_s = [0, *accumulate(o.qty_wh for o in sells)]  # cum_s[k] = supply of the first k
    cum_b = [0, *accumulate(o.qty_wh for o in buys)]
    price, volume, regime, ns, nb = _exclude(asks, neg_bids, cum_s, cum_b)
    if volume == 0:
        return _result(orders, sells[ns:] + buys[nb:], {}, None, 0, regime)
    traded = _allocate(sells[:ns], cum_s, volume)
    traded.update(_allocate(buys[:nb], cum_b, volume))
    return _result(orders, sells[ns:] + buys[nb:], traded, price, volume, regime)


def _exclude(asks: Sequence[int], neg_bids: Sequence[int], cum_s: Sequence[int],
             cum_b: Sequence[int]) -> tuple[int | None, int, Regime, int, int]:
    """The clearing loop over sorted sides: (price, volume, regime, active sells, active buys).

    ``asks`` ascending, ``neg_bids`` ascending (bids negated), ``cum_*[k]`` the
    quantity of the first k of a side. Lists or numpy arrays; the results are
    Python ints either way. Volume 0 means no trade (price None).
    """
    ns, nb = len(asks), len(neg_bids)  # active prefixes
    regime: Regime = "no_trade"
    while True:
        qs, qd = int(cum_s[ns]), int(cum_b[nb])
        if qs == 0 or qd == 0:
            return None, 0, regime, ns, nb
        if qs > qd:
            regime = "buyers_market"
            m = bisect_left(cum_s, qd, 1, ns + 1) - 1  # first seller where supply reaches qd
            price = int(asks[m] if cum_s[m + 1] > qd else asks[m + 1])
            keep_b, keep_s = bisect_right(neg_bids, -price, 0, nb), ns
        elif qs < qd:
            regime = "sellers_market"
            m = bisect_left(cum_b, qs, 1, nb + 1) - 1
            price = -int(neg_bids[m] if cum_b[m + 1] > qs else neg_bids[m + 1])
            keep_b, keep_s = nb, bisect_right(asks, price, 0, ns)
        else:
            regime = "balanced"
            price = int(asks[ns - 1])
            keep_b, keep_s = bisect_right(neg_bids, -price, 0, nb), ns
        if keep_b == nb and keep_s == ns:
            return price, min(qs, qd), regime, ns, nb
        nb, ns = keep_b, keep_s


def _allocate(side: list[Order], cum: list[int], volume: int) -> dict[str, int]:
    """Fill a side in priority order up to ``volume``: full orders, then one partial."""
    out: dict[str, int] = {}
    full = bisect_right(cum, volume, 1, len(side) + 1) - 1  # orders that fit entirely
    for o in side[:full]:
        out[o.id] = o.qty_wh
    rest = volume - cum[full]
    if rest:
        out[side[full].id] = rest
    return out


#: FillColumns status codes, in the order of ``STATUS_NAMES``.
STATUS_NAMES: tuple[Status, ...] = ("unfilled", "partial", "filled", "excluded")


@dataclass(frozen=True, slots=True)
class BookColumns:
    """The cleared book as the numpy path read it (read-only numpy arrays, the orders'
    order): the round's result is made from these (edge.market.fillblock) instead of a
    second pass over 100,000 Order objects. ``ids``: each id followed by a newline, None
    where the C reader is not built or an id is not a protocol Id."""

    buy: object
    qty: object
    price: object
    seq: object
    ids: bytes | None


class FillColumns(Sequence[Fill]):
    """A clearing's fills as columns; a ``Fill`` is made only when one is read.

    Why: a 100,000-order clearing costs less in numpy than building its
    100,000 ``Fill`` objects. Compares equal to any sequence of the same Fills
    (so a ``Clearing`` from either path compares equal) and hashes like the
    tuple. ``qty`` and ``status`` are the columns as Python lists (made on
    first read), for consumers that work by column.
    """

    __slots__ = ("_orders", "_traded", "_code", "book", "_qty", "_status", "_fills")

    def __init__(self, orders: Sequence[Order], traded, code,
                 book: BookColumns | None = None) -> None:
        """``traded``: Wh per order; ``code``: index into STATUS_NAMES per order (arrays);
        ``book``: the orders as the clearing read them, for the round's result."""
        self._orders = orders
        self._traded = traded
        self._code = code
        self.book = book
        self._qty: list[int] | None = None
        self._status: list[Status] | None = None
        self._fills: tuple[Fill, ...] | None = None  # made on the first full read, then kept

    @property
    def arrays(self):
        """(traded Wh as int64, status code as int8) numpy arrays, for consumers that work
        by column without Python lists (read-only: the clearing's own)."""
        return self._traded, self._code

    @property
    def qty(self) -> list[int]:
        if self._qty is None:
            self._qty = self._traded.tolist()
        return self._qty

    @property
    def status(self) -> list[Status]:
        if self._status is None:
            names = STATUS_NAMES
            self._status = [names[c] for c in self._code.tolist()]
        return self._status

    @property
    def orders(self) -> Sequence[Order]:
        """The orders cleared, in fill order (fill ``i`` is ``orders[i]``'s id and side)."""
        return self._orders

    def __len__(self) -> int:
        return len(self._orders)

    def __getitem__(self, i):  # type: ignore[override]
        if self._fills is not None or isinstance(i, slice):
            return self.fills()[i]
        o = self._orders[i]
        return Fill(o.id, o.side, self.qty[i], self.status[i])

    def __iter__(self) -> Iterator[Fill]:
        return iter(self.fills())

    def fills(self) -> tuple[Fill, ...]:
        """All fills as a tuple, made once (consumers often walk the fills several times)."""
        if self._fills is None:
            self._fills = tuple(map(Fill, (o.id for o in self._orders),
                                    (o.side for o in self._orders), self.qty, self.status))
        return self._fills

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Sequence) or isinstance(other, str | bytes):
            return NotImplemented
        return len(self) == len(other) and all(a == b for a, b in zip(self, other, strict=True))

    def __hash__(self) -> int:
        return hash(self.fills())

    def __repr__(self) -> str:
        return f"FillColumns({len(self)} fills)"


def clear_uniform_numpy(orders: Sequence[Order]) -> Clearing | None:
    """The vectorised path: the same clearing as ``clear_uniform_python``, bit for bit.

    Returns None when the book is empty or not plainly valid, or a seq does
    not fit 64 bits; the caller then takes the Python path, which names the
    bad order.
    """
    cols = _numpy_columns(orders)
    if cols is None:
        return None
    import numpy as np

    buy, qty, price, seq, ids = cols
    n = len(orders)
    # One sort of a packed key: sells first by (price, seq), then buys by (-price, seq).
    # Prices are < 2**31, so side and priority price fit 32 bits; seq goes in the low 32
    # bits when it fits them (seqs are unique, so the keys are), else its rank does.
    prio = np.where(buy, (2**32 - 1) - price, price).astype(np.uint64)
    if int(seq.min()) < 0 or int(seq.max()) >= 2**32:
        low = np.empty(n, dtype=np.uint64)
        low[np.argsort(seq)] = np.arange(n, dtype=np.uint64)  # unique: any sort is stable
    else:
        low = seq.astype(np.uint64)
    order = np.argsort((prio << np.uint64(32)) | low)  # unique keys: any sort is stable
    n_sell = n - int(np.count_nonzero(buy))
    sells, buys = order[:n_sell], order[n_sell:]
    zero = np.zeros(1, dtype=np.int64)
    cum_s = np.concatenate((zero, np.cumsum(qty[sells])))  # < 2**51: no overflow
    cum_b = np.concatenate((zero, np.cumsum(qty[buys])))
    price_c, volume, regime, ns, nb = _exclude(price[sells], -price[buys], cum_s, cum_b)
    traded = np.zeros(n, dtype=np.int64)
    code = np.zeros(n, dtype=np.int8)  # STATUS_NAMES index: unfilled
    code[sells[ns:]] = 3  # excluded
    code[buys[nb:]] = 3
    if volume:
        for idx, cum, active in ((sells, cum_s, ns), (buys, cum_b, nb)):
            full = int(np.searchsorted(cum[1 : active + 1], volume, side="right"))
            traded[idx[:full]] = qty[idx[:full]]
            code[idx[:full]] = 2  # filled
            rest = volume - int(cum[full])
            if rest:
                traded[idx[full]] = rest
                code[idx[full]] = 1  # partial
    fills = FillColumns(orders, traded, code, BookColumns(buy, qty, price, seq, ids))
    return Clearing(price_c, volume, regime, fills)  # type: ignore[arg-type]


def _result(
    orders: Sequence[Order],
    excluded: list[Order],
    traded: dict[str, int],
    price: int | None,
    volume: int,
    regime: Regime,
) -> Clearing:
    out = {o.id for o in excluded}
    fills = []
    for o in orders:
        q = traded.get(o.id, 0)
        if q == o.qty_wh:
            status: Status = "filled"
        elif q:
            status = "partial"
        elif o.id in out:
            status = "excluded"
        else:
            status = "unfilled"
        fills.append(Fill(o.id, o.side, q, status))
    return Clearing(price, volume, regime, tuple(fills))


def validate_units(kind: str, units: Sequence[Unit]) -> None:
    """Raise ValueError naming the first bad unit of one side ('generator' or 'load')."""
    if len(units) > MAX_ORDERS:
        raise ValueError(f"{len(units)} {kind}s exceed the limit of {MAX_ORDERS}")
    ids: set[str] = set()
    seqs: set[int] = set()
    for i, u in enumerate(units):
        if not isinstance(u, Unit):
            raise ValueError(f"{kind}s[{i}] is a {type(u).__name__}, not a Unit")
        if not isinstance(u.id, str) or not u.id:
            raise ValueError(f"{kind}s[{i}]: id must be a non-empty string, got {u.id!r}")
        what = f"{kind} {u.id!r} ({kind}s[{i}])"
        _check_int(what, "qmin_wh", u.qmin_wh, 0)
        _check_int(what, "qmax_wh", u.qmax_wh, 0)
        if u.qmin_wh > u.qmax_wh:
            raise ValueError(f"{what}: qmin_wh {u.qmin_wh} exceeds qmax_wh {u.qmax_wh}")
        _check_int(what, "price", u.price, 0)
        if not _is_int(u.seq):
            raise ValueError(f"{what}: seq must be an integer, got {u.seq!r}")
        if u.id in ids:
            raise ValueError(f"{what}: duplicate id")
        if u.seq in seqs:
            raise ValueError(f"{what}: duplicate seq {u.seq}")
        ids.add(u.id)
        seqs.add(u.seq)


def merit_order(gens: Sequence[Unit], loads: Sequence[Unit]) -> Dispatch:
    """P1 merit-order dispatch without a network (minimums, relaxation, forced balance).

    Ids and seqs must be unique within each side; a generator and a load may
    share an id because the result keeps them in separate maps.
    """
    validate_units("generator", gens)
    validate_units("load", loads)
    relaxed = (
        sum(g.qmin_wh for g in gens) > sum(u.qmax_wh for u in loads)
        or sum(u.qmin_wh for u in loads) > sum(g.qmax_wh for g in gens)
    )

    def qmin(u: Unit) -> int:
        return 0 if relaxed else u.qmin_wh

    gen_wh = {g.id: qmin(g) for g in gens}
    load_wh = {u.id: qmin(u) for u in loads}
    # Flexible blocks in priority order; blocks of size 0 can never supply energy.
    gblocks = [
        [g.id, g.qmax_wh - qmin(g), g.price]
        for g in sorted(gens, key=lambda u: (u.price, u.seq))
        if g.qmax_wh > qmin(g)
    ]
    lblocks = [
        [u.id, u.qmax_wh - qmin(u), u.price]
        for u in sorted(loads, key=lambda u: (-u.price, u.seq))
        if u.qmax_wh > qmin(u)
    ]
    price: int | None = None
    gi = li = 0
    # Forced balance: the side whose minimums fall short takes blocks in order, at any price.
    surplus = sum(gen_wh.values()) - sum(load_wh.values())
    while surplus > 0:  # loads absorb the generators' minimum surplus
        blk = lblocks[li]
        take = min(surplus, blk[1])
        load_wh[blk[0]] += take
        blk[1] -= take
        surplus -= take
        li += blk[1] == 0
    while surplus < 0:  # generators supply the loads' minimum deficit
        blk = gblocks[gi]
        take = min(-surplus, blk[1])
        gen_wh[blk[0]] += take
        blk[1] -= take
        surplus += take
        price = blk[2]
        gi += blk[1] == 0
    # Greedy matching while the cheapest remaining ask is no dearer than the best bid.
    while gi < len(gblocks) and li < len(lblocks) and gblocks[gi][2] <= lblocks[li][2]:
        g, u = gblocks[gi], lblocks[li]
        take = min(g[1], u[1])
        gen_wh[g[0]] += take
        load_wh[u[0]] += take
        g[1] -= take
        u[1] -= take
        price = g[2]
        gi += g[1] == 0
        li += u[1] == 0
    if price is None:
        offers = [g.price for g in gens if qmin(g) > 0]
        price = max(offers) if offers else None
    volume = sum(gen_wh.values())
    return Dispatch(price, volume, gen_wh, load_wh, relaxed)
