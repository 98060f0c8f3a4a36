"""A round's fills block, packed from the clearing's columns and by the reference, against an
oracle here.

The oracle packs the layout of edge/protocol/fills.py's docstring with ``struct`` from the
orders and the clearing's fills as the test reads them (not through fills.encode). The numpy
clearing keeps the columns it read (``BookColumns``: the C reader, edge/market/_columns.c
``order_columns``, also writes the id column); ``fillblock.fill_block`` packs the block from
them, and ``fillblock.reference_block`` from the orders: both must give exactly the oracle's
bytes. Outside the columns' plain cases (no id column, an id that is not a protocol Id, a seq
beyond the protocol's, more fills than a result carries) the reference runs and names what
cannot be encoded. Under CI=true a skip for want of the built extension fails
(tests/kit/ci.py).
"""

from __future__ import annotations

import random
import struct

import numpy as np
import pytest

from edge.market import clearing, fillblock
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
NOT_BUILT = "edge.market._columns (the C column reader) is not built in this checkout"
MAX_SEQ = 2**53 - 1  # the protocol's, written out here rather than imported


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


def arrays(c):
    """(traded, code) of any clearing: the numpy path's own, or made here from its fills."""
    if isinstance(c.fills, FillColumns):
        return c.fills.arrays
    return (np.array([f.qty_wh for f in c.fills], dtype=np.int64),
            np.array([CODE[f.status] for f in c.fills], dtype=np.int8))


def plain_book(n=100):
    """``n`` plain orders that trade (every status but excluded), ids g0 .. g{n-1}."""
    return [Order(f"g{i}", "buy" if i % 2 else "sell", 10 + i, 100_000 + (i % 3) * 10, 100 + i)
            for i in range(n)]


def swapped(orders, i, **over):
    o = orders[i]
    fields = {"id": o.id, "side": o.side, "qty_wh": o.qty_wh, "price": o.price, "seq": o.seq}
    fields.update(over)
    return [*orders[:i], Order(**fields), *orders[i + 1:]]


def no_reference(*_args):
    raise AssertionError("the reference encoder ran: the columns path was not taken")


@pytest.fixture
def native():
    """The C column reader (edge.market._columns), for the tests of the columns path."""
    mod = clearing._native_columns()
    if mod is None:
        pytest.skip(NOT_BUILT)
    return mod


@pytest.mark.parametrize("path", ["numpy", "python"])
@pytest.mark.parametrize("n", [0, 1, 2, 7, 64, 300, 3_000])
def test_columns_reference_and_oracle_agree(path, n):
    """Both ways give the oracle's bytes on either clearing path; from numpy_from() orders,
    where the C reader is built, the block is packed from the clearing's columns."""
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
    assert fillblock.reference_block(orders, c) == expect
    assert fillblock.fill_block(orders, c) == expect
    assert fillblock.fill_block(tuple(orders), c) == expect
    if isinstance(c.fills, FillColumns) and clearing._native_columns() is not None:
        assert c.fills.book is not None and c.fills.book.ids is not None
        assert fillblock._from_columns(c.fills) == expect
    if n >= numpy_from():  # clear_uniform takes the numpy path: the same block
        c2 = clear_uniform(orders)
        assert isinstance(c2.fills, FillColumns) and c2 == c
        assert fillblock.fill_block(orders, c2) == expect


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


@pytest.mark.parametrize("extra", [0, 1, 500])
def test_the_columns_path_is_taken_for_plain_books(native, monkeypatch, extra):
    """Where the C reader is built, a plain book from numpy_from() orders on gets its block
    from the clearing's columns: the reference is never called."""
    n = numpy_from() + extra
    assert n >= clearing.NUMPY_FROM_NATIVE
    orders = random_book(n, random.Random(3 + extra))
    c = clear_uniform(orders)
    assert isinstance(c.fills, FillColumns)
    book = c.fills.book
    assert book is not None and book.ids is not None
    expect = oracle(orders, c)
    monkeypatch.setattr(fillblock, "reference_block", no_reference)
    assert fillblock.fill_block(orders, c) == expect


def test_the_largest_values_are_packed_from_the_columns(native, monkeypatch):
    orders = plain_book()
    big = swapped(orders, 0, seq=MAX_SEQ, price=2**31 - 1, qty_wh=2**31 - 1, id="Z" * 32)
    big = swapped(big, 1, seq=0, price=0, qty_wh=1, id="-")
    c = clear_uniform(big)
    assert c.fills.book is not None and c.fills.book.ids is not None
    expect = oracle(big, c)
    assert fillblock.reference_block(big, c) == expect
    monkeypatch.setattr(fillblock, "reference_block", no_reference)
    assert fillblock.fill_block(big, c) == expect
    assert expect[8:16] == struct.pack("<Q", MAX_SEQ)


def test_without_the_c_reader_the_reference_gives_the_block(monkeypatch):
    """The numpy path's Python column reader writes no id column: the reference packs."""
    monkeypatch.setattr(clearing, "_native_columns", lambda: None)
    orders = random_book(200, random.Random(5))
    c = clear_uniform_numpy(orders)
    assert isinstance(c.fills, FillColumns)
    assert c.fills.book is not None and c.fills.book.ids is None
    assert fillblock._from_columns(c.fills) is None
    assert fillblock.fill_block(orders, c) == oracle(orders, c)


# -- the C reader's id column -------------------------------------------------------------

def test_order_columns_writes_the_id_column(native):
    """Each id and a newline, in the orders' order, next to the other columns."""
    orders = random_book(300, random.Random(7))
    orders = swapped(orders, 0, id="a" * 32)
    orders = swapped(orders, 1, id="Z")
    orders = swapped(orders, 2, id="-._09azAZ")
    raw = native.order_columns(orders, Order)
    assert isinstance(raw, tuple) and len(raw) == 6
    qty, price, seq, hashes = (np.frombuffer(b, dtype=np.int64).tolist() for b in raw[:4])
    assert qty == [o.qty_wh for o in orders]
    assert price == [o.price for o in orders]
    assert seq == [o.seq for o in orders]
    assert hashes == [hash(o.id) for o in orders]
    assert list(raw[4]) == [1 if o.side == "buy" else 0 for o in orders]
    assert raw[5] == b"".join(o.id.encode("ascii") + b"\n" for o in orders)
    assert native.order_columns([], Order)[5] == b""


BAD_IDS = ["a b", "g\u00e9", "a" * 33, "a\nb", "\u2603", "a/b", "a\x00", "\u00e9" * 32]


@pytest.mark.parametrize("at", [0, 50, 99])
@pytest.mark.parametrize("bad", BAD_IDS)
def test_an_id_that_is_not_a_protocol_id_leaves_no_column_then_is_named(native, bad, at):
    """The reader still gives the other columns (the id is valid for the clearing), the
    clearing still runs on them, and the reference refuses the block."""
    orders = plain_book()
    odd = swapped(orders, at, id=bad)
    raw = native.order_columns(odd, Order)
    assert raw is not None and raw[5] is None
    assert np.frombuffer(raw[0], dtype=np.int64).tolist() == [o.qty_wh for o in odd]
    c = clear_uniform(odd)
    assert isinstance(c.fills, FillColumns) and c.fills.book.ids is None
    assert c == clear_uniform_python(odd)
    assert fillblock._from_columns(c.fills) is None
    with pytest.raises(FillsError, match="not an Id"):
        fillblock.fill_block(odd, c)
    # the same place with a plain id: the column is there again and the block packs
    ok = swapped(orders, at, id="a" * 32)
    c = clear_uniform(ok)
    assert c.fills.book.ids is not None
    assert fillblock.fill_block(ok, c) == fillblock.reference_block(ok, c) == oracle(ok, c)


def test_an_empty_id_makes_the_reader_hand_back_and_the_clearing_refuse(native):
    odd = swapped(plain_book(), 5, id="")
    assert native.order_columns(odd, Order) is None
    with pytest.raises(ValueError, match=r"orders\[5\]: id must be a non-empty string"):
        clear_uniform(odd)


def test_a_str_subclass_id_takes_the_python_path(native):
    """Not an exact str: the reader hands the book back, the Python path clears it and the
    reference packs it (the subclass encodes as its text)."""

    class Id(str):
        pass

    orders = plain_book()
    odd = swapped(orders, 4, id=Id("g4"))
    assert native.order_columns(odd, Order) is None
    c = clear_uniform(odd)
    assert not isinstance(c.fills, FillColumns)
    assert c == clear_uniform(orders)
    assert fillblock.fill_block(odd, c) == oracle(orders, c)


def test_a_hash_collision_keeps_the_id_column(native):
    """Equal id hashes (or hash 0) send the ids to the exact check; the id column read by C
    must come through that check unchanged. A real 64-bit collision cannot be made on
    purpose, so the reader's hash column is given one."""
    orders = plain_book()
    raw = native.order_columns(orders, Order)
    qty, price, seq, hashes = (np.frombuffer(b, dtype=np.int64).copy() for b in raw[:4])
    hashes[1] = hashes[0]
    buy = np.frombuffer(raw[4], dtype=np.bool_)
    got = clearing._checked(orders, buy, qty, price, seq, hashes, raw[5])
    assert got is not None and got[4] == raw[5]


# -- values a block cannot carry ----------------------------------------------------------

@pytest.mark.parametrize(("field", "value", "named"), [
    ("qty_wh", True, "qty_wh must be an integer"),
    ("qty_wh", 10.0, "qty_wh must be an integer"),
    ("qty_wh", 0, "qty_wh 0 is outside"),
    ("qty_wh", 2**31, "qty_wh 2147483648 is outside"),
    ("qty_wh", 2**70, "qty_wh 1180591620717411303424 is outside"),
    ("price", True, "price must be an integer"),
    ("price", False, "price must be an integer"),
    ("price", 1.0, "price must be an integer"),
    ("price", -1, "price -1 is outside"),
    ("price", 2**31, "price 2147483648 is outside"),
    ("seq", True, "seq must be an integer"),
    ("seq", False, "seq must be an integer"),
    ("seq", 5.0, "seq must be an integer"),
])
@pytest.mark.parametrize("n", [8, 100])
def test_the_clearing_refuses_a_value_before_any_block(field, value, named, n):
    """On either path (8 orders: Python; 100: numpy first) the clearing names the order."""
    odd = swapped(plain_book(n), 3, **{field: value})
    with pytest.raises(ValueError, match=rf"order 'g3' \(orders\[3\]\): {named}"):
        clear_uniform(odd)


@pytest.mark.parametrize(("field", "value", "named"), [
    ("qty_wh", 2**70, "fill 3: order_wh"),
    ("qty_wh", 2**31, "fill 3: order_wh 2147483648 outside"),
    ("qty_wh", 0, "fill 3: order_wh 0 outside"),
    ("price", 2**31, "fill 3: price 2147483648 outside"),
    ("price", 2**70, "fill 3: price"),
    ("price", -1, "fill 3: price -1 outside"),
    ("seq", 2**53, "fill 3: seq 9007199254740992 outside"),
    ("seq", 2**63, "fill 3: seq"),
    ("seq", -1, "fill 3: seq -1 outside"),
    ("qty_wh", True, "fill 3: order_wh must be an integer"),
    ("price", True, "fill 3: price must be an integer"),
    ("price", False, "fill 3: price must be an integer"),
    ("seq", True, "fill 3: seq must be an integer"),
    ("seq", 5.0, "fill 3: seq must be an integer"),
    ("price", 1.0, "fill 3: price must be an integer"),
])
def test_the_reference_names_a_value_it_cannot_pack(field, value, named):
    """The reference checks every value itself (a bool or float would pack as a number it
    is not): given orders the clearing never saw, it names the fill."""
    orders = plain_book(8)
    c = clear_uniform_python(orders)
    odd = swapped(orders, 3, **{field: value})
    with pytest.raises(FillsError, match=named):
        fillblock.reference_block(odd, c)


@pytest.mark.parametrize("seq", [MAX_SEQ + 1, 2**60, 2**63 - 1])
def test_a_seq_beyond_the_protocol_is_handed_back_then_named(native, seq):
    """Valid for the clearing (it fits int64: numpy path), not for a block: no columns
    block, and the reference names the fill."""
    odd = swapped(plain_book(), 7, seq=seq)
    c = clear_uniform(odd)
    assert isinstance(c.fills, FillColumns) and c.fills.book.ids is not None
    assert fillblock._from_columns(c.fills) is None
    with pytest.raises(FillsError, match=f"fill 7: seq {seq} outside"):
        fillblock.fill_block(odd, c)


@pytest.mark.parametrize("seq", [2**63, 2**70])
def test_a_seq_beyond_64_bits_takes_the_python_path_then_is_named(seq):
    odd = swapped(plain_book(), 7, seq=seq)
    c = clear_uniform(odd)
    assert not isinstance(c.fills, FillColumns)
    with pytest.raises(FillsError, match=f"fill 7: seq {seq} outside"):
        fillblock.fill_block(odd, c)


def test_a_negative_seq_is_named_not_packed(native):
    odd = swapped(plain_book(), 7, seq=-1)
    c = clear_uniform(odd)
    assert isinstance(c.fills, FillColumns)
    with pytest.raises(FillsError, match="fill 7: seq -1 outside"):
        fillblock.fill_block(odd, c)


# -- the protocol's limit on fills --------------------------------------------------------

def test_more_orders_than_a_result_carries_are_refused():
    """100,001 orders clear (the clearing takes 2**20) but make no block; 100,000 do."""
    n = wire.MAX_FILLS + 1
    assert n == 100_001
    orders = [Order(f"g{i}", "buy", 1, 0, i) for i in range(n)]
    c = clear_uniform(orders)
    assert c.regime == "no_trade" and len(c.fills) == n
    if isinstance(c.fills, FillColumns) and c.fills.book.ids is not None:
        assert fillblock._from_columns(c.fills) is None
    with pytest.raises(FillsError, match="100001 fills exceed"):
        fillblock.fill_block(orders, c)
    at_limit = orders[:-1]
    c = Clearing(None, 0, "no_trade", FillColumns(at_limit, *(a[:-1] for a in arrays(c))))
    got = fillblock.reference_block(at_limit, c)
    assert got[:8] == b"FIL1" + struct.pack("<I", n - 1) and got.endswith(b"g99999\n")
    assert len(got) == 8 + 22 * (n - 1) + sum(len(o.id) + 1 for o in at_limit)


def test_a_full_result_is_packed_from_the_columns(native):
    n = wire.MAX_FILLS
    orders = [Order(f"g{i}", "buy" if i % 2 else "sell", 1 + i % 7, 100 + i % 11, i)
              for i in range(n)]
    c = clear_uniform(orders)
    got = fillblock._from_columns(c.fills)
    assert got is not None and got == fillblock.reference_block(orders, c)
    assert got[:8] == b"FIL1" + struct.pack("<I", n) and got.endswith(b"g99999\n")

