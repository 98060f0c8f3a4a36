"""A round's fills block, made by the C pass and by the reference, against an oracle here.

The oracle packs the layout of edge/protocol/fills.py's docstring with ``struct`` from the
orders and the clearing's fills as the test reads them (not through fills.encode). The C
pass (edge/market/_columns.c ``fill_block``) and ``fillblock.reference_block`` must both
give exactly its bytes, on numpy-path clearings (FillColumns) and on Python-path ones
(tuples of Fill); whatever the C pass cannot write it hands back (None) and
``fillblock.fill_block`` takes the reference, which names the bad fill or gives the bytes.
Under CI=true a skip for want of the built extension fails (tests/kit/ci.py).
"""

from __future__ import annotations

import gc
import random
import struct

import numpy as np
import pytest

from edge.market import fillblock
from edge.market.clearing import (
    STATUS_NAMES,
    Clearing,
    FillColumns,
    Order,
    clear_uniform,
    clear_uniform_numpy,
    clear_uniform_python,
    numpy_from,
)
from edge.protocol import fills as wire
from edge.protocol.fills import FillsError

CODE = {"unfilled": 0, "partial": 1, "filled": 2, "excluded": 3}
NOT_BUILT = "edge.market._columns with fill_block is not built in this checkout"


def oracle(orders, clearing) -> bytes:
    """The block of ``orders`` cleared as ``clearing``, packed field by field."""
    fs = list(clearing.fills)
    out = [b"FIL1", struct.pack("<I", len(orders))]
    out += [struct.pack("<Q", o.seq) for o in orders]
    out += [struct.pack("<I", o.price) for o in orders]
    out += [struct.pack("<I", o.qty_wh) for o in orders]
    out += [struct.pack("<I", f.qty_wh) for f in fs]
    out += [struct.pack("<B", 0 if o.side == "buy" else 1) for o in orders]
    out += [struct.pack("<B", CODE[f.status]) for f in fs]
    out += [o.id.encode("ascii") + b"\n" for o in orders]
    return b"".join(out)


def arrays_of(clearing):
    """(traded int64, code int8) of any clearing: the numpy path's own, or made here."""
    if isinstance(clearing.fills, FillColumns):
        return clearing.fills.arrays
    return (np.array([f.qty_wh for f in clearing.fills], dtype=np.int64),
            np.array([CODE[f.status] for f in clearing.fills], dtype=np.int8))


def random_book(n, rng, ids=None):
    """A valid book within the protocol's bounds, seqs up to 2**53 - 1 and ids of 1 to 32."""
    chars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_."
    seqs = rng.sample(range(2**53), n)
    if ids is None:  # unique: the number before the first "-"
        ids = [f"{i}-" + "".join(rng.choices(chars, k=rng.randint(0, 31 - len(str(i)))))
               for i in range(n)]
    # prices around one level so that books trade (every status shows up)
    return [Order(ids[i], rng.choice(["buy", "sell"]), rng.randint(1, 2**31 - 1),
                  rng.choice([rng.randint(0, 2**31 - 1), rng.randint(90_000, 110_000)]), seqs[i])
            for i in range(n)]


@pytest.fixture
def c_pass():
    """The C pass itself (edge.market._columns.fill_block), for the tests of it alone."""
    native = fillblock._native_columns()
    if native is None or not hasattr(native, "fill_block"):
        pytest.skip(NOT_BUILT)
    return native


def c_block(native, orders, clearing):
    traded, code = arrays_of(clearing)
    return native.fill_block(list(orders), Order, traded, code)


@pytest.mark.parametrize("path", ["numpy", "python"])
@pytest.mark.parametrize("n", [0, 1, 2, 7, 64, 300, 3_000])
def test_c_pass_reference_and_oracle_agree(path, n):
    """The reference is checked everywhere; the C pass where it is built (a checkout without
    it skips the tests of the C pass alone, which fail under CI=true)."""
    native = fillblock._native_columns()
    built = native is not None and hasattr(native, "fill_block")
    rng = random.Random(n * 2 + (path == "numpy"))
    orders = random_book(n, rng)
    c = clear_uniform_python(orders) if path == "python" else clear_uniform_numpy(orders)
    if c is None:  # the numpy path does not take an empty book
        assert n == 0
        c = clear_uniform_python(orders)
    assert isinstance(c.fills, FillColumns) == (path == "numpy" and n > 0)
    if n >= 300:  # a book that trades: every status in it
        assert {f.status for f in c.fills} == set(STATUS_NAMES)
    expect = oracle(orders, c)
    assert len(expect) == 8 + 22 * n + sum(len(o.id) + 1 for o in orders)
    if built:
        assert c_block(native, orders, c) == expect
    assert fillblock.reference_block(orders, c) == expect
    assert fillblock.fill_block(orders, c) == expect
    assert fillblock.fill_block(tuple(orders), c) == expect


def test_the_block_decodes_to_the_clearing_and_the_orders():
    rng = random.Random(11)
    orders = random_book(2_500, rng)
    c = clear_uniform(orders)
    assert isinstance(c.fills, FillColumns)
    rows = wire.decode(fillblock.fill_block(orders, c), 1_700_000_100)
    assert len(rows) == len(orders)
    for row, o, f in zip(rows, orders, c.fills, strict=True):
        assert (row["qty_wh"], row["status"]) == (f.qty_wh, f.status)
        assert (row["price"], row["seq"], row["order_wh"], row["gw"], row["side"]) == (
            o.price, o.seq, o.qty_wh, o.id, o.side)
        assert row["order"] == f"1700000100-{o.seq}"
    assert sum(r["qty_wh"] for r in rows if r["side"] == "sell") == c.volume_wh


def test_the_c_pass_is_taken_for_plain_books(c_pass, monkeypatch):
    """Where built, the C pass makes the block of a plain book (the reference is not called)."""
    orders = random_book(numpy_from() + 1, random.Random(3))
    c = clear_uniform(orders)
    expect = oracle(orders, c)
    monkeypatch.setattr(fillblock, "reference_block", None)  # calling it would raise TypeError
    assert fillblock.fill_block(orders, c) == expect


def test_without_the_c_pass_the_reference_gives_the_block(monkeypatch):
    orders = random_book(200, random.Random(5))
    c = clear_uniform_numpy(orders)
    monkeypatch.setattr(fillblock, "_native_columns", lambda: None)
    assert fillblock.fill_block(orders, c) == oracle(orders, c)


# -- what the C pass hands back, and what fill_block then does ---------------------------

def small_book():
    """Eight plain orders that trade, cleared on the numpy path (FillColumns)."""
    orders = [Order(f"g{i}", "buy" if i % 2 else "sell", 10 + i, 100_000 + (i % 3) * 10, 100 + i)
              for i in range(8)]
    c = clear_uniform_numpy(orders)
    assert c is not None and isinstance(c.fills, FillColumns) and c.volume_wh
    return orders, c


def swapped(orders, i, **over):
    o = orders[i]
    fields = {"id": o.id, "side": o.side, "qty_wh": o.qty_wh, "price": o.price, "seq": o.seq}
    fields.update(over)
    return [*orders[:i], Order(**fields), *orders[i + 1:]]


BAD_IDS = ["a b", "g\u00e9", "a" * 33, "", "a\nb", "\u2603", "a/b"]


@pytest.mark.parametrize("bad", BAD_IDS)
def test_an_id_that_is_not_a_protocol_id_is_handed_back_then_named(c_pass, bad):
    orders, c = small_book()
    odd = swapped(orders, 5, id=bad)
    assert c_block(c_pass, odd, c) is None
    with pytest.raises(FillsError, match="not an Id"):
        fillblock.fill_block(odd, c)
    # the same id at the edge of the range: 32 characters are an Id
    ok = swapped(orders, 5, id="a" * 32)
    assert c_block(c_pass, ok, c) == fillblock.fill_block(ok, c) == oracle(ok, c)


@pytest.mark.parametrize(("field", "value", "named"), [
    ("qty_wh", 2**70, "fill 3: order_wh"),
    ("qty_wh", 2**31, "fill 3: order_wh"),
    ("qty_wh", 0, "fill 3: order_wh"),
    ("price", 2**31, "fill 3: price 2147483648"),
    ("price", 2**70, "fill 3: price"),
    ("price", -1, "fill 3: price -1"),
    ("seq", 2**53, "fill 3: seq 9007199254740992"),
    ("seq", 2**63, "fill 3: seq"),
    ("seq", 2**70, "fill 3: seq"),
    ("seq", -1, "fill 3: seq -1"),
])
def test_a_value_out_of_range_is_handed_back_then_named(c_pass, field, value, named):
    orders, c = small_book()
    odd = swapped(orders, 3, **{field: value})
    assert c_block(c_pass, odd, c) is None
    with pytest.raises(FillsError, match=named):
        fillblock.fill_block(odd, c)


def test_the_largest_values_are_written(c_pass):
    orders, c = small_book()
    # order 0 is unfilled or filled with its own quantity: keep its traded energy valid
    big = swapped(orders, 0, seq=2**53 - 1, price=2**31 - 1)
    assert c_block(c_pass, big, c) == fillblock.reference_block(big, c) == oracle(big, c)


@pytest.mark.parametrize(("field", "value"), [
    ("qty_wh", True), ("price", True), ("price", False), ("seq", True), ("seq", False),
])
def test_a_bool_is_handed_back_and_the_reference_names_it(c_pass, field, value):
    """The C pass takes exact ints only; the reference refuses a bool (it would pack as the
    0 or 1 it is not), naming the fill."""
    orders, c = small_book()
    i = 0 if field != "qty_wh" else next(k for k, f in enumerate(c.fills) if f.qty_wh in (0, 1))
    odd = swapped(orders, i, **{field: value})
    assert c_block(c_pass, odd, c) is None
    with pytest.raises(FillsError, match=f"fill {i}: .* must be an integer"):
        fillblock.fill_block(odd, c)


@pytest.mark.parametrize(("field", "value"), [("qty_wh", 10.0), ("price", 1.0), ("seq", 5.0)])
def test_a_float_is_handed_back(c_pass, field, value):
    orders, c = small_book()
    odd = swapped(orders, 0, **{field: value})
    assert c_block(c_pass, odd, c) is None


@pytest.mark.parametrize(("field", "value"), [("qty_wh", 10.0), ("price", 1.0), ("seq", 5.0)])
def test_a_float_is_named_by_the_reference(field, value):
    orders, c = small_book()
    with pytest.raises(FillsError, match="fill 0: "):
        fillblock.fill_block(swapped(orders, 0, **{field: value}), c)


def test_columns_that_do_not_fit_the_book_are_handed_back(c_pass):
    """A traded column of the wrong length, a status code out of range or one that does not
    match the traded energy: None from the C pass, never a read past its buffers."""
    orders, c = small_book()
    traded, code = (a.copy() for a in c.fills.arrays)
    n = len(orders)
    assert c_pass.fill_block(orders, Order, traded, code) == oracle(orders, c)
    assert c_pass.fill_block(orders, Order, traded[:-1], code) is None
    assert c_pass.fill_block(orders, Order, np.append(traded, 0), code) is None
    assert c_pass.fill_block(orders, Order, traded.tobytes()[:-1], code) is None
    assert c_pass.fill_block(orders, Order, traded, code[:-1]) is None
    assert c_pass.fill_block(orders, Order, traded, np.append(code, 0)) is None
    assert c_pass.fill_block(orders[:-1], Order, traded, code) is None
    for k in (4, 5, 127, -1, -128):
        bad = code.copy()
        bad[n - 1] = k
        assert c_pass.fill_block(orders, Order, traded, bad) is None
    i = next(k for k, f in enumerate(c.fills) if f.status == "filled")
    for status, qty in ((0, None), (1, None), (3, None), (2, 0), (2, -1)):
        bad_code, bad_traded = code.copy(), traded.copy()
        bad_code[i] = status
        if qty is not None:
            bad_traded[i] = qty
        assert c_pass.fill_block(orders, Order, bad_traded, bad_code) is None
        odd = Clearing(c.price, c.volume_wh, c.regime, FillColumns(orders, bad_traded, bad_code))
        with pytest.raises(FillsError, match=f"fill {i}: "):
            fillblock.fill_block(orders, odd)
    over = traded.copy()
    over[i] = orders[i].qty_wh + 1
    assert c_pass.fill_block(orders, Order, over, code) is None
    short = Clearing(c.price, c.volume_wh, c.regime, FillColumns(orders, traded[:-1], code))
    with pytest.raises(FillsError, match="differ in length"):
        fillblock.fill_block(orders, short)


def test_the_c_pass_reads_any_alignment(c_pass):
    orders, c = small_book()
    traded, code = c.fills.arrays
    odd = memoryview(b"\0" + traded.tobytes())[1:]
    assert c_pass.fill_block(orders, Order, odd, code.tobytes()) == oracle(orders, c)


def test_an_order_of_another_type_or_a_side_not_buy_or_sell_is_handed_back(c_pass):
    orders, c = small_book()

    class Sub:  # the same fields, another type
        __slots__ = ("id", "side", "qty_wh", "price", "seq")

        def __init__(self, o):
            for k in self.__slots__:
                setattr(self, k, getattr(o, k))

    odd = [*orders[:2], Sub(orders[2]), *orders[3:]]
    assert c_pass.fill_block(odd, Order, *c.fills.arrays) is None
    assert fillblock.fill_block(odd, c) == oracle(orders, c)  # the reference reads its fields
    assert c_pass.fill_block(orders, Sub, *c.fills.arrays) is None  # its slots are not Order's
    held = swapped(orders, 2, side="hold")
    assert c_pass.fill_block(held, Order, *c.fills.arrays) is None
    assert c_pass.fill_block([*orders[:7], None], Order, *c.fills.arrays) is None

    class Id(str):
        pass

    sub_id = swapped(orders, 4, id=Id("g4"))
    assert c_pass.fill_block(sub_id, Order, *c.fills.arrays) is None
    assert fillblock.fill_block(sub_id, c) == oracle(orders, c)


def test_more_orders_than_a_result_carries_are_handed_back_then_refused(c_pass):
    n = wire.MAX_FILLS + 1
    orders = [Order(f"g{i}", "buy", 1, 0, i) for i in range(n)]
    traded, code = np.zeros(n, dtype=np.int64), np.zeros(n, dtype=np.int8)
    assert c_pass.fill_block(orders, Order, traded, code) is None
    c = Clearing(None, 0, "no_trade", FillColumns(orders, traded, code))
    with pytest.raises(FillsError, match=f"{n} fills exceed"):
        fillblock.fill_block(orders, c)
    at_limit = orders[:-1]
    c = Clearing(None, 0, "no_trade", FillColumns(at_limit, traded[:-1], code[:-1]))
    got = c_pass.fill_block(at_limit, Order, traded[:-1], code[:-1])
    assert got is not None and got == fillblock.reference_block(at_limit, c)
    assert got[:8] == b"FIL1" + struct.pack("<I", n - 1) and got.endswith(b"g99999\n")


def test_the_c_pass_never_writes_past_its_buffer_when_ids_change(c_pass):
    """The pass sizes its block from the ids, allocates it, then writes. If Python code ran
    in between (a collection callback, a finalizer), it could make an id longer after the
    buffer was sized: the JSON rows pass before this one crashed so. This pass allocates
    nothing GC-tracked between sizing and writing, so no collection runs there, and it
    checks each id's room again where it writes it. Here a collection callback, armed only
    around each call with the collector at every allocation, changes one id's length (1 to
    32: still an Id), and the id also changes between calls: every block must be exactly
    the block of the ids as the call ended, or None; never an id cut or written past."""
    orders = [Order(f"g{i}", "buy", 1, 2, i) for i in range(50)]
    traded, code = bytes(8 * 50), bytes(50)
    seen = []
    active = [False]

    def grow(phase, info):
        if phase == "start" and active[0]:
            seen.append(phase)
            object.__setattr__(orders[40], "id", "y" * (1 + 7 * len(seen) % 32))

    gc.collect()
    threshold = gc.get_threshold()
    gc.callbacks.append(grow)
    gc.set_threshold(1)
    try:
        for k in range(64):
            object.__setattr__(orders[40], "id", "x" * (1 + k % 32))
            active[0] = True
            got = c_pass.fill_block(orders, Order, traded, code)
            active[0] = False
            assert got is not None  # nothing here is outside the plain cases
            ids = got[8 + 22 * 50:].split(b"\n")
            assert ids[:-1] == [o.id.encode() for o in orders] and ids[-1] == b""
            assert len(got) == 8 + 22 * 50 + sum(len(o.id) + 1 for o in orders)
    finally:
        gc.set_threshold(*threshold)
        gc.callbacks.remove(grow)
