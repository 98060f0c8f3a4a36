"""A result's fill rows and their bytes against an independent reference, both ways.

The reference builds the rows from the Fill objects in the test and encodes them with
the json module's canonical settings (sorted keys, no spaces, ASCII), not through
edge.protocol.canonical; the C pass (edge/market/_columns.c ``result_fills``) and the
plain way must both give exactly those rows and bytes, and ids that need escaping must
come out escaped as json escapes them (the C pass hands those to the plain way).
"""

from __future__ import annotations

import gc
import json
import random

import numpy as np
import pytest

from edge.market import fillrows
from edge.market.clearing import STATUS_NAMES, FillColumns, Order, clear_uniform, numpy_from


def reference(interval, orders, clearing, book):
    rows = []
    for o, f in zip(orders, clearing.fills, strict=True):
        row = {"order": f"{interval}-{o.seq}", "gw": o.id, "side": o.side, "qty_wh": f.qty_wh,
               "status": f.status}
        if book:
            row.update(price=o.price, seq=o.seq, order_wh=o.qty_wh)
        rows.append(row)
    raw = json.dumps(rows, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return rows, raw.encode("ascii")


def random_book(n, rng, ids=None):
    seqs = rng.sample(range(-(2**40), 2**40), n)
    return [Order(ids[i] if ids else f"gw{i}", rng.choice(["buy", "sell"]),
                  rng.randint(1, 2**31 - 1), rng.randint(0, 2**31 - 1), seqs[i])
            for i in range(n)]


@pytest.fixture(params=["native", "python"])
def way(request, monkeypatch):
    native = fillrows._native_columns()
    if request.param == "python":
        monkeypatch.setattr(fillrows, "_native_columns", lambda: None)
    elif native is None or not hasattr(native, "result_fills"):
        pytest.skip("edge.market._columns with result_fills is not built in this checkout")
    return request.param


@pytest.fixture
def c_pass():
    """The C pass itself (edge.market._columns.result_fills), for the tests of it alone."""
    native = fillrows._native_columns()
    if native is None or not hasattr(native, "result_fills"):
        pytest.skip("edge.market._columns with result_fills is not built in this checkout")
    return native


@pytest.mark.parametrize("book", [False, True])
@pytest.mark.parametrize("n", [1, 5, 3_000])
def test_rows_and_bytes_are_the_json_reference(way, book, n):
    rng = random.Random(n * 2 + book)
    orders = random_book(n, rng)
    c = clear_uniform(orders)
    if n > 1_000:  # a book that trades: every status in it
        assert {f.status for f in c.fills} == {"filled", "partial", "unfilled", "excluded"}
    for interval in (0, 1_700_000_100, -(2**62)):
        rows, raw = fillrows.fill_rows(interval, tuple(orders), c, book)
        ref_rows, ref_raw = reference(interval, orders, c, book)
        assert rows == ref_rows
        assert raw == ref_raw


def test_ids_that_need_escaping_come_out_as_json_writes_them(way):
    rng = random.Random(7)
    odd = ['q"uote', "back\\slash", "tab\there", "é", "\u2603", "\x7f", "plain"]
    ids = [odd[i % len(odd)] + str(i) for i in range(numpy_from() + 10)]
    orders = random_book(len(ids), rng, ids)
    c = clear_uniform(orders)
    assert isinstance(c.fills, FillColumns)
    for book in (False, True):
        assert fillrows.fill_rows(5, orders, c, book) == reference(5, orders, c, book)


def test_the_c_pass_is_taken_for_plain_books(c_pass, monkeypatch):
    """Where built, the C pass makes the rows of a plain book (the plain way is not called)."""
    monkeypatch.setattr(fillrows, "_python_rows", None)  # calling it would raise TypeError
    orders = random_book(numpy_from() + 1, random.Random(3))
    c = clear_uniform(orders)
    assert fillrows.fill_rows(9, orders, c, False) == reference(9, orders, c, False)


def test_the_c_pass_refuses_what_it_cannot_write_and_sizes_what_it_can(c_pass):
    """Long status names and extreme integers fit its buffer; columns of the wrong length,
    a status code out of range or an odd side are handed back (None), never read past."""
    native = c_pass
    big = 2**63 - 1
    orders = [Order("a" * 300, "sell", big, -big - 1, -(2**63)), Order("b", "buy", 1, 2, big)]
    traded = np.array([big, -(2**63)], dtype=np.int64).tobytes()
    code = np.array([0, 3], dtype=np.int8).tobytes()
    names = tuple(c * 200 for c in "wxyz")
    rows, raw = native.result_fills(orders, Order, traded, code, names, -(2**63), True)
    expect = [{"order": f"{-(2**63)}-{o.seq}", "gw": o.id, "side": o.side, "qty_wh": q,
               "status": names[c], "price": o.price, "seq": o.seq, "order_wh": o.qty_wh}
              for o, q, c in zip(orders, (big, -(2**63)), (0, 3), strict=True)]
    assert rows == expect
    assert raw == json.dumps(expect, sort_keys=True, separators=(",", ":")).encode()
    assert native.result_fills(orders, Order, traded[:8], code, names, 0, False) is None
    bad_code = np.array([0, 4], dtype=np.int8).tobytes()
    assert native.result_fills(orders, Order, traded, bad_code, names, 0, False) is None
    odd = [orders[0], Order("c", "hold", 1, 2, 3)]  # type: ignore[arg-type]
    assert native.result_fills(odd, Order, traded, code, names, 0, False) is None


def test_the_c_pass_hands_back_an_interval_beyond_64_bits_and_reads_any_alignment(c_pass):
    """An interval no int64 holds is handed back (None: fill_rows then takes the plain way,
    no OverflowError); a traded column at an odd address reads as the aligned one."""
    orders = [Order("a", "sell", 5, 7, 1), Order("b", "buy", 5, 9, 2)]
    traded = np.array([5, 5], dtype=np.int64).tobytes()
    code = np.array([2, 2], dtype=np.int8).tobytes()
    assert c_pass.result_fills(orders, Order, traded, code, STATUS_NAMES, 2**63, False) is None
    odd = memoryview(b"\0" + traded)[1:]
    got = c_pass.result_fills(orders, Order, odd, code, STATUS_NAMES, 3, False)
    assert got == c_pass.result_fills(orders, Order, traded, code, STATUS_NAMES, 3, False)
    assert got[1] == (b'[{"gw":"a","order":"3-1","qty_wh":5,"side":"sell","status":"filled"},'
                      b'{"gw":"b","order":"3-2","qty_wh":5,"side":"buy","status":"filled"}]')
    c = clear_uniform(orders)
    assert fillrows.fill_rows(2**64, orders, c, False) == reference(2**64, orders, c, False)


def test_the_c_pass_checks_again_what_a_finalizer_changed(c_pass):
    """The pass allocates between sizing its buffer and writing it, and an allocation can run
    the garbage collector and so any Python code: here a collection callback makes one id a
    megabyte long after the buffer was sized (the third collection in the call; the call's
    own argument tuple is the most that can come before the sizing). The pass must hand the
    book back, not write past its buffer (the pass before this check crashed here)."""
    orders = [Order(f"g{i}", "buy", 1, 2, i) for i in range(50)]
    traded = bytes(8 * 50)
    code = bytes(50)
    seen = []

    def grow(phase, info):
        seen.append(phase)
        if seen.count("start") == 3:
            object.__setattr__(orders[40], "id", "x" * 1_000_000)

    gc.collect()
    threshold = gc.get_threshold()
    gc.callbacks.append(grow)
    gc.set_threshold(1)
    try:
        got = c_pass.result_fills(orders, Order, traded, code, STATUS_NAMES, 0, False)
    finally:
        gc.set_threshold(*threshold)
        gc.callbacks.remove(grow)
    assert seen.count("start") >= 3 and len(orders[40].id) == 1_000_000
    assert got is None
