"""The vectorised clearing path against the pure-Python one and the independent reference.

Both paths must give the same Clearing bit for bit (price, volume, regime and
every fill) on every book: hypothesis draws small books dense in ties (equal
prices on one side and across sides, equal quantities) and seqs in every
range the packed sort key distinguishes (small, negative, beyond 32 bits,
beyond 63 bits).
"""

from __future__ import annotations

import random
import re

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edge.market import clearing
from edge.market.clearing import (
    NUMPY_FROM,
    Fill,
    FillColumns,
    Order,
    clear_uniform,
    clear_uniform_numpy,
    clear_uniform_python,
)

from .reference import reference_uniform

# The column-reader fixture is a constant setting, the same for every drawn book.
FIXTURE = HealthCheck.function_scoped_fixture

SEQ_RANGES = {
    "small": (0, 50),
    "negative": (-(2**40), 10),
    "wide": (0, 2**40),
    "int64": (-(2**63), 2**63 - 1),
}


@st.composite
def books(draw, max_orders=16, max_price=6, max_qty=8):
    n = draw(st.integers(1, max_orders))
    lo, hi = SEQ_RANGES[draw(st.sampled_from(sorted(SEQ_RANGES)))]
    seqs = draw(st.lists(st.integers(lo, hi), min_size=n, max_size=n, unique=True))
    return [
        Order(f"o{i}", draw(st.sampled_from(["buy", "sell"])), draw(st.integers(1, max_qty)),
              draw(st.integers(0, max_price)), seqs[i])
        for i in range(n)
    ]


@pytest.fixture(params=["native", "python"])
def columns(request, monkeypatch):
    """Run a test with the C column reader (when built) and with the Python one."""
    if request.param == "python":
        monkeypatch.setattr(clearing, "_native_columns", lambda: None)
    elif clearing._native_columns() is None:
        pytest.skip("edge.market._columns is not built in this checkout")
    return request.param


def as_plain(c):
    return (c.price, c.volume_wh, c.regime, tuple(c.fills))


@settings(max_examples=400, deadline=None, suppress_health_check=[FIXTURE])
@given(orders=books())
def test_numpy_path_equals_python_path_and_reference(columns, orders):
    fast = clear_uniform_numpy(orders)
    assert fast is not None
    slow = clear_uniform_python(orders)
    assert as_plain(fast) == as_plain(slow)
    assert fast == slow and slow == fast
    price, volume, regime, fills = reference_uniform(orders)
    assert (fast.price, fast.volume_wh, fast.regime) == (price, volume, regime)
    assert {f.order_id: (f.qty_wh, f.status) for f in fast.fills} == fills
    assert all(type(f.qty_wh) is int for f in fast.fills)
    assert type(fast.price) in (int, type(None)) and type(fast.volume_wh) is int


@settings(max_examples=100, deadline=None, suppress_health_check=[FIXTURE])
@given(orders=books(max_orders=40, max_price=3, max_qty=3), rnd=st.randoms(use_true_random=False))
def test_numpy_path_independent_of_input_order(columns, orders, rnd):
    shuffled = list(orders)
    rnd.shuffle(shuffled)
    a, b = clear_uniform_numpy(orders), clear_uniform_numpy(shuffled)
    assert (a.price, a.volume_wh, a.regime) == (b.price, b.volume_wh, b.regime)
    assert {f.order_id: f for f in a.fills} == {f.order_id: f for f in b.fills}


def random_book(n: int, seed: int, prices: int) -> list[Order]:
    rnd = random.Random(seed)
    seqs = rnd.sample(range(10 * n), n)
    return [Order(f"o{i}", rnd.choice(["buy", "sell"]), rnd.randint(1, 5_000),
                  rnd.randint(100, 100 + prices), seqs[i]) for i in range(n)]


@pytest.mark.parametrize("prices", [0, 5, 100_000])
def test_large_books_take_the_numpy_path_and_agree(columns, prices):
    orders = random_book(NUMPY_FROM + 1_000, prices, prices)
    c = clear_uniform(orders)
    assert isinstance(c.fills, FillColumns)
    assert as_plain(c) == as_plain(clear_uniform_python(orders))
    price, volume, regime, _ = reference_uniform(orders) if len(orders) < 5000 else (None,) * 4
    if price is not None:
        assert (c.price, c.volume_wh, c.regime) == (price, volume, regime)


def test_small_books_stay_pure_python(columns):
    c = clear_uniform(random_book(10, 1, 10))
    assert type(c.fills) is tuple


def test_the_crossover_follows_the_column_reader(columns):
    """With the C reader the numpy path pays from a few dozen orders, without it from ~1,000."""
    book = random_book(100, 7, 30)
    c = clear_uniform(book)
    assert isinstance(c.fills, FillColumns) == (columns == "native")
    assert as_plain(c) == as_plain(clear_uniform_python(book))


def test_seq_beyond_int64_falls_back_to_python(columns):
    orders = random_book(50, 2, 20) + [Order("huge", "sell", 5, 100, 2**70)]
    assert clear_uniform_numpy(orders) is None
    assert as_plain(clear_uniform(orders * 1)) == as_plain(clear_uniform_python(orders))


@pytest.mark.parametrize("bad", [
    Order("x", "buy", 0, 100, 10**9),
    Order("x", "buy", 1.5, 100, 10**9),
    Order("x", "buy", True, 100, 10**9),
    Order("x", "hold", 1, 100, 10**9),
    Order("", "buy", 1, 100, 10**9),
    Order("x", "buy", 1, 2**31, 10**9),
])
def test_bad_large_book_is_refused_naming_the_order(columns, bad, monkeypatch):
    monkeypatch.setattr(clearing, "NUMPY_FROM", 10)
    monkeypatch.setattr(clearing, "NUMPY_FROM_NATIVE", 10)
    orders = random_book(30, 3, 50)
    orders.insert(7, bad)
    assert clear_uniform_numpy(orders) is None
    with pytest.raises(ValueError, match=r"order 'x' \(orders\[7\]\)|orders\[7\]"):
        clear_uniform(orders)


def test_fill_columns_read_like_a_tuple_of_fills():
    orders = [Order("a", "sell", 3, 10, 1), Order("b", "buy", 5, 12, 2)]
    cols = FillColumns(orders, np.array([3, 3]), np.array([2, 1]))  # filled, partial
    plain = (Fill("a", "sell", 3, "filled"), Fill("b", "buy", 3, "partial"))
    assert len(cols) == 2 and cols[1] == plain[1] and cols[-1] == plain[1]
    assert cols == plain and plain == cols and cols[:1] == plain[:1]
    assert hash(cols) == hash(plain)
    assert cols != plain[:1] and cols != (plain[1], plain[0])
    assert cols.qty == [3, 3] and cols.status == ["filled", "partial"]


class Id(str):
    pass


class Qty(int):
    pass


class SubOrder(Order):
    __slots__ = ()


@pytest.mark.parametrize("odd", [
    Order(Id("x"), "buy", 1, 100, 10**9),  # a str subclass id
    Order("x", "buy", Qty(1), 100, 10**9),  # an int subclass
    Order("x", Id("buy"), 1, 100, 10**9),  # a str subclass side
    Order("x", "Buy", 1, 100, 10**9),
    Order("x", "buy", 1, 100, True),
    Order("x", "buy", 1, 100, 2**63),
    SubOrder("x", "buy", 1, 100, 10**9),
])
def test_anything_but_plain_orders_takes_the_python_path(columns, odd):
    """Odd but typed-alike values: refused by both paths alike, or cleared alike."""
    orders = random_book(30, 4, 50)
    orders.insert(3, odd)
    fast = clear_uniform_numpy(orders)
    try:
        expected = as_plain(clear_uniform_python(orders))
    except ValueError as exc:
        assert fast is None
        with pytest.raises(ValueError, match=re.escape(str(exc))):
            clear_uniform(orders)
    else:  # valid after all (a str subclass equal to "buy" is a side): same answer
        assert fast is None or as_plain(fast) == expected
        assert as_plain(clear_uniform(orders)) == expected


def test_tuples_of_orders_are_read_too(columns):
    orders = tuple(random_book(50, 5, 10))
    assert as_plain(clear_uniform_numpy(orders)) == as_plain(clear_uniform_python(orders))


def test_pl_clear_prints_a_numpy_path_clearing_as_json(tmp_path):
    """A book big enough for the numpy path goes through `carbon-edge pl clear --json`."""
    import json
    import subprocess
    import sys
    from pathlib import Path

    orders = random_book(NUMPY_FROM + 10, 6, 40)
    book = {"orders": [{"id": o.id, "side": o.side, "qty_wh": o.qty_wh, "price": o.price,
                        "seq": o.seq} for o in orders]}
    path = tmp_path / "book.json"
    path.write_text(json.dumps(book))
    root = Path(__file__).resolve().parents[2]
    proc = subprocess.run([sys.executable, "-m", "edge.cli", "pl", "clear", "--book", str(path),
                           "--backend", "cpu", "--json"], capture_output=True, text=True,
                          cwd=root, env={"PYTHONPATH": str(root), "PATH": "/usr/bin:/bin"})
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    ref = clear_uniform_python(orders)
    assert (out["price"], out["volume_wh"], out["regime"]) == (ref.price, ref.volume_wh,
                                                               ref.regime)
    assert [(f["order_id"], f["qty_wh"], f["status"]) for f in out["fills"]] == \
        [(f.order_id, f.qty_wh, f.status) for f in ref.fills]
