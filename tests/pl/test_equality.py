"""cpu, sim and the C simulation agree bit for bit, on random and on edge-case inputs."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edge.market.clearing import Clearing, Dispatch, Order, Unit, clear_uniform, merit_order
from edge.pl import abi
from edge.pl.cpu import CpuBackend

CPU = CpuBackend()
LIMIT = 2**31
SETTINGS = settings(max_examples=60, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture])


# ---- the C simulation as a third path ---------------------------------------------------

def csim_hash(csim, msgs: list[bytes], mode: str) -> list[bytes]:
    out = csim("tb_sha256", ["--eval", mode], "".join(m.hex() + "\n" for m in msgs))
    return [bytes.fromhex(line) for line in out.split()]


def csim_uniform(csim, orders: list[Order]) -> Clearing:
    rows = abi.pack_orders(orders)
    text = f"U {len(orders)}\n" + "".join(" ".join(map(str, r)) + "\n" for r in rows.tolist())
    lines = csim("tb_clearing", ["--eval"], text).splitlines()
    err, _, has_price, price, volume, regime, _ = map(int, lines[0].split())
    assert err == 0
    fills = []
    for o, line in zip(orders, lines[1:], strict=True):
        q, s = map(int, line.split())
        fills.append((o.id, o.side, q, abi.STATUS[s]))
    from edge.market.clearing import Fill

    return Clearing(price if has_price else None, volume, abi.REGIME[regime],
                    tuple(Fill(*f) for f in fills))


def csim_merit(csim, gens: list[Unit], loads: list[Unit]) -> Dispatch:
    rows = abi.pack_units(gens, loads)
    text = f"M {len(gens)} {len(loads)}\n" + "".join(
        " ".join(map(str, r)) + "\n" for r in rows.tolist())
    lines = csim("tb_clearing", ["--eval"], text).splitlines()
    err, _, has_price, price, volume, relaxed, _ = map(int, lines[0].split())
    assert err == 0
    q = [int(line.split()[0]) for line in lines[1:]]
    return Dispatch(price if has_price else None, volume,
                    {g.id: x for g, x in zip(gens, q[: len(gens)], strict=True)},
                    {u.id: x for u, x in zip(loads, q[len(gens):], strict=True)}, bool(relaxed))


# ---- strategies ---------------------------------------------------------------------------

messages = st.lists(st.binary(max_size=300), max_size=40)


@st.composite
def books(draw, max_orders: int = 40) -> list[Order]:
    n = draw(st.integers(0, max_orders))
    prices = draw(st.sampled_from([(0, 0), (0, 3), (0, 1000), (LIMIT - 4, LIMIT - 1)]))
    qty_hi = draw(st.sampled_from([1, 10, 5000, LIMIT - 1]))
    seqs = draw(st.lists(st.integers(-2**40, 2**40), min_size=n, max_size=n, unique=True))
    return [
        Order(f"o{i}", draw(st.sampled_from(["buy", "sell"])), draw(st.integers(1, qty_hi)),
              draw(st.integers(*prices)), seqs[i])
        for i in range(n)
    ]


@st.composite
def units(draw, prefix: str) -> list[Unit]:
    n = draw(st.integers(0, 12))
    out = []
    for i in range(n):
        hi = draw(st.integers(0, draw(st.sampled_from([0, 100, 10_000, LIMIT - 1]))))
        lo = draw(st.one_of(st.just(0), st.integers(0, hi)))
        out.append(Unit(f"{prefix}{i}", lo, hi, draw(st.integers(0, 5)), i * 7 - 20))
    return out


# ---- hashing --------------------------------------------------------------------------------

@SETTINGS
@given(msgs=messages)
def test_hashing_agrees_on_random_batches(msgs, sim_backend, csim):
    want = [hashlib.sha256(m).digest() for m in msgs]
    assert CPU.sha256_many(msgs) == want
    assert sim_backend.sha256_many(msgs) == want
    assert csim_hash(csim, msgs, "plain") == want
    leaves = [hashlib.sha256(b"\x00" + m).digest() for m in msgs]
    assert CPU.leaf_hashes(msgs) == leaves == sim_backend.leaf_hashes(msgs)
    assert csim_hash(csim, msgs, "leaf") == leaves
    even = leaves[: len(leaves) & ~1]
    nodes = [hashlib.sha256(b"\x01" + even[i] + even[i + 1]).digest()
             for i in range(0, len(even), 2)]
    assert CPU.node_hashes(even) == nodes == sim_backend.node_hashes(even)
    pairs = [even[i] + even[i + 1] for i in range(0, len(even), 2)]
    assert csim_hash(csim, pairs, "node") == nodes


@pytest.mark.parametrize("length", [0, 1, 55, 56, 63, 64, 65, 119, 120, 128, 1000, 100_000])
def test_padding_boundaries(length, sim_backend, csim):
    msg = bytes(range(256)) * (length // 256 + 1)
    batch = [msg[:length], b"", msg[:length]]  # zero-length messages between others
    want = [hashlib.sha256(m).digest() for m in batch]
    assert sim_backend.sha256_many(batch) == want == CPU.sha256_many(batch)
    assert csim_hash(csim, batch, "plain") == want


def test_empty_batches(sim_backend):
    for be in (CPU, sim_backend):
        assert be.sha256_many([]) == [] and be.leaf_hashes([]) == [] and be.node_hashes([]) == []
        assert be.sha256_many([b""]) == [hashlib.sha256(b"").digest()]


def test_batches_split_at_the_kernel_limit(sim, monkeypatch):
    """More messages than one run takes: split, same digests, same order."""
    from edge.pl.driver import PlBackend

    be = PlBackend(sim)
    monkeypatch.setattr(be.sha, "kmap", be.sha.kmap.__class__(**{**be.sha.kmap.__dict__,
                                                                 "max_items": 3}))
    monkeypatch.setattr(abi, "MAX_BATCH_BYTES", 100)
    msgs = [bytes([i]) * (i * 7) for i in range(20)]
    assert be.leaf_hashes(msgs) == CPU.leaf_hashes(msgs)
    d = CPU.sha256_many(msgs)
    assert be.node_hashes(d) == CPU.node_hashes(d)


def test_split_batches_ranges():
    assert abi.split_batches([], 3, 10) == [(0, 0)]
    assert abi.split_batches([1] * 7, 3, 100) == [(0, 3), (3, 6), (6, 7)]
    assert abi.split_batches([6, 6, 6], 10, 10) == [(0, 1), (1, 2), (2, 3)]
    assert abi.split_batches([50], 10, 10) == [(0, 1)]  # one oversized message runs alone


def test_bad_digests_refused_alike(sim_backend):
    for be in (CPU, sim_backend):
        with pytest.raises(ValueError, match="even number"):
            be.node_hashes([b"\0" * 32])
        with pytest.raises(ValueError, match=r"digests\[1\] must be 32 bytes"):
            be.node_hashes([b"\0" * 32, b"\0" * 31])


def test_million_a(sim_backend):
    want = "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0"
    assert sim_backend.sha256_many([b"a" * 1_000_000])[0].hex() == want


# ---- clearing -------------------------------------------------------------------------------

@SETTINGS
@given(orders=books())
def test_uniform_clearing_agrees(orders, sim_backend, csim):
    want = clear_uniform(orders)
    assert CPU.clear_uniform(orders) == want
    assert sim_backend.clear_uniform(orders) == want
    assert csim_uniform(csim, orders) == want


@SETTINGS
@given(gens=units("g"), loads=units("l"))
def test_merit_order_agrees(gens, loads, sim_backend, csim):
    want = merit_order(gens, loads)
    assert CPU.merit_order(gens, loads) == want
    assert sim_backend.merit_order(gens, loads) == want
    assert csim_merit(csim, gens, loads) == want


def _o(i, side, qty, price, seq=None):
    return Order(f"o{i}", side, qty, price, i if seq is None else seq)


CASES = {
    "empty": [],
    "one order": [_o(0, "sell", 5, 10)],
    "all at one price": [_o(i, "buy" if i % 2 else "sell", 10 + i, 7) for i in range(20)],
    "maximum values": [_o(0, "sell", LIMIT - 1, LIMIT - 1), _o(1, "buy", LIMIT - 1, LIMIT - 1),
                       _o(2, "buy", LIMIT - 1, LIMIT - 1), _o(3, "sell", LIMIT - 1, 0)],
    "exclusion": [_o(0, "sell", 100, 10), _o(1, "sell", 100, 20), _o(2, "sell", 100, 30),
                  _o(3, "buy", 100, 40), _o(4, "buy", 100, 15)],
}


@pytest.mark.parametrize("name", CASES)
def test_named_books(name, sim_backend, csim):
    orders = CASES[name]
    want = clear_uniform(orders)
    assert sim_backend.clear_uniform(orders) == want == csim_uniform(csim, orders)


def test_hand_worked_exclusion_case(sim_backend):
    """The tb's hand-worked case, here with its numbers: B2 excluded, price falls to 20."""
    c = sim_backend.clear_uniform(CASES["exclusion"])
    assert (c.price, c.volume_wh, c.regime) == (20, 100, "buyers_market")
    assert [(f.qty_wh, f.status) for f in c.fills] == [
        (100, "filled"), (0, "unfilled"), (0, "unfilled"), (100, "filled"), (0, "excluded")]


def test_large_book_agrees(sim_backend):
    from edge.pl.dispatch import random_orders

    orders = random_orders(50_000, seed=7)
    assert sim_backend.clear_uniform(orders) == clear_uniform(orders)


@pytest.mark.slow
def test_maximum_size_book(sim_backend):
    """2^20 orders, the kernel's limit; one more is refused by both."""
    from edge.pl.dispatch import random_orders

    orders = random_orders(2**20, seed=3)
    assert sim_backend.clear_uniform(orders) == clear_uniform(orders)
    too_many = orders + [Order("x", "buy", 1, 1, 2**21)]
    for be in (CPU, sim_backend):
        with pytest.raises(ValueError, match="exceed"):
            be.clear_uniform(too_many)


def test_bad_orders_refused_alike(sim_backend):
    bad = [Order("a", "sell", 0, 10, 1)]
    for be in (CPU, sim_backend):
        with pytest.raises(ValueError, match="qty_wh"):
            be.clear_uniform(bad)
    for be in (CPU, sim_backend):
        with pytest.raises(ValueError, match="exceeds qmax"):
            be.merit_order([Unit("g", 5, 1, 1, 0)], [])


def test_kernel_reports_bad_input_in_its_header(sim):
    """Input that skips the Python checks (written straight into DDR) is refused by the PL."""
    import numpy as np

    from edge.pl.driver import ClearingDriver

    drv = ClearingDriver(sim)
    words = np.array([[2, 5, 10, 0]], dtype=np.uint32)  # side 2 does not exist
    out = drv._run(words, abi.CLR_MODE_UNIFORM, 1, 0)
    assert out[abi.H_ERROR] == 3 and out[abi.H_BAD_INDEX] == 0
    with pytest.raises(ValueError, match="refused item 0: side"):
        abi.unpack_uniform(out, [Order("a", "buy", 5, 10, 0)])
