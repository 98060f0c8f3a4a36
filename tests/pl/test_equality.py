"""cpu, sim and the C simulation agree bit for bit, on random and on edge-case inputs."""

from __future__ import annotations

import hashlib
import re
import shutil
import subprocess

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edge.market.clearing import (
    Clearing,
    Dispatch,
    Fill,
    Order,
    Unit,
    clear_uniform,
    merit_order,
)
from edge.pl import abi
from edge.pl.cpu import CpuBackend
from tests.kit.pl import CXXFLAGS, HLS

CPU = CpuBackend()
LIMIT = 2**31
SETTINGS = settings(max_examples=60, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture])


# ---- the C simulation as a third path ---------------------------------------------------

def csim_hash(csim, msgs: list[bytes], mode: str) -> list[bytes]:
    out = csim("tb_sha256", ["--eval", mode], "".join(m.hex() + "\n" for m in msgs))
    return [bytes.fromhex(line) for line in out.split()]


def _csim_clear(run, kind: str, packed: abi.Packed) -> tuple[list[int], list[int], list[int]]:
    """Feed the kernel's own layout to `tb_clearing --eval`; (header, qty, status) with the
    per-item lists mapped back to the caller's order through packed.perm."""
    cols = 2 if kind == "U" else 3
    w = packed.words.reshape(-1, 1 if kind == "U" else 2)
    rows = np.empty((len(w), cols), dtype=np.uint64)
    rows[:, 0] = w[:, 0] & 0xFFFFFFFF
    rows[:, 1] = w[:, 0] >> np.uint64(32)
    if kind == "M":
        rows[:, 2] = w[:, 1]
    text = f"{kind} {packed.n_a} {packed.n_b}\n" + "".join(
        " ".join(map(str, r)) + "\n" for r in rows.tolist())
    lines = run(text).splitlines()
    head = list(map(int, lines[0].split()))
    assert head[0] == 0, f"kernel error {head[:2]}"
    body = [tuple(map(int, line.split())) for line in lines[1:]]
    assert len(body) == len(packed.perm)
    qty, status = [0] * len(body), [0] * len(body)
    for k, (q, code) in zip(packed.perm.tolist(), body, strict=True):
        qty[k], status[k] = q, code
    return head, qty, status


def csim_uniform(csim, orders: list[Order], binary: str = "tb_clearing") -> Clearing:
    head, qty, status = _csim_clear(lambda t: csim(binary, ["--eval"], t), "U",
                                    abi.pack_orders(orders))
    _, _, has_price, price, volume, regime, _ = head
    fills = tuple(Fill(o.id, o.side, q, abi.STATUS[s])
                  for o, q, s in zip(orders, qty, status, strict=True))
    return Clearing(price if has_price else None, volume, abi.REGIME[regime], fills)


def csim_merit(csim, gens: list[Unit], loads: list[Unit], binary: str = "tb_clearing") -> Dispatch:
    head, q, _ = _csim_clear(lambda t: csim(binary, ["--eval"], t), "M",
                             abi.pack_units(gens, loads))
    _, _, has_price, price, volume, relaxed, _ = head
    return Dispatch(price if has_price else None, volume,
                    {g.id: x for g, x in zip(gens, q[: len(gens)], strict=True)},
                    {u.id: x for u, x in zip(loads, q[len(gens):], strict=True)}, bool(relaxed))


def header_define(name: str) -> int:
    text = (HLS / "clearing.h").read_text()
    return int(re.search(rf"#define {name} (\d+)u", text)[1])


#: The kernel's on-chip tile (records per side sorted in BRAM before the DDR merge passes).
TILE = 1 << header_define("CLR_TILE_LOG2")
SMALL_TILE, SMALL_BLOCK = 16, 4


@pytest.fixture(scope="module")
def small_csim(tmp_path_factory):
    """tb_clearing built with a 16-record tile and 4-record prefetch blocks, so hypothesis's
    small books cross many tiles, blocks and DDR merge passes."""
    gxx = shutil.which("g++")
    if not gxx:
        pytest.skip("g++ is not installed: the C simulation needs it")
    exe = tmp_path_factory.mktemp("csim-small") / "tb_clearing_small"
    subprocess.run([gxx, *CXXFLAGS, f"-DCLR_TILE_LOG2={SMALL_TILE.bit_length() - 1}u",
                    f"-DCLR_BLOCK_LOG2={SMALL_BLOCK.bit_length() - 1}u", "-o", str(exe),
                    str(HLS / "tb" / "tb_clearing.cpp"), str(HLS / "clearing.cpp")],
                   check=True, capture_output=True)

    def run(name: str, argv: list[str], stdin: str = "") -> str:
        assert name == "tb_clearing_small"
        proc = subprocess.run([str(exe), *argv], input=stdin, capture_output=True, text=True,
                              timeout=120)
        assert proc.returncode == 0, proc.stderr
        return proc.stdout

    return run


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
def units(draw, prefix: str, max_units: int = 12) -> list[Unit]:
    n = draw(st.integers(0, max_units))
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
    """Input that skips the Python checks (written straight into DDR) is refused by the PL,
    and the error names the caller's item, not the kernel's position."""
    from edge.pl.driver import ClearingDriver

    drv = ClearingDriver(sim)
    orders = [Order("b", "buy", 5, 10, 0), Order("s", "sell", 5, 10, 1)]
    packed = abi.pack_orders(orders)  # kernel order: s (sells first), then b
    assert packed.perm.tolist() == [1, 0] and (packed.n_a, packed.n_b) == (1, 1)
    words = packed.words.copy()
    words[1] = np.uint64(10 << 32)  # b's quantity 0
    bad = abi.Packed(words, packed.perm, 1, 1)
    out = drv._run(bad, abi.CLR_MODE_UNIFORM)
    assert out[abi.H_ERROR] == 4 and out[abi.H_BAD_INDEX] == 1
    with pytest.raises(ValueError, match="refused item 0: quantity out of range"):
        abi.unpack_uniform(out, orders, bad)
    words[1] = np.uint64(5 | 2**31 << 32)  # price 2^31
    out = drv._run(abi.Packed(words, packed.perm, 1, 1), abi.CLR_MODE_UNIFORM)
    assert (out[abi.H_ERROR], out[abi.H_BAD_INDEX]) == (5, 1)
    units = abi.pack_units([Unit("g", 1, 5, 3, 0)], [])
    w = units.words.copy()
    w[0] = np.uint64(6 | 5 << 32)  # qmin 6 > qmax 5
    out = drv._run(abi.Packed(w, units.perm, 1, 0), abi.CLR_MODE_MERIT)
    assert (out[abi.H_ERROR], out[abi.H_BAD_INDEX]) == (6, 0)


@pytest.mark.parametrize(("mode", "n_a", "n_b", "code"), [
    (abi.CLR_MODE_UNIFORM, 2**20, 1, 2), (abi.CLR_MODE_UNIFORM, 2**20 + 1, 0, 2),
    (abi.CLR_MODE_MERIT, 0, 2**20 + 1, 2), (7, 0, 0, 1)])
def test_kernel_refuses_sizes_and_modes(sim, mode, n_a, n_b, code):
    """Sizes over 2^20 and unknown modes: the kernel writes only an error header."""
    from edge.pl.driver import ClearingDriver

    drv = ClearingDriver(sim)
    small, out = sim.allocate(64), sim.allocate(64)
    out.array[:] = 0xEE
    drv.run({"in": (small, 0), "out": (out, 32), "work_a": (small, 0), "work_b": (small, 0)},
            {"mode": mode, "n_a": n_a, "n_b": n_b}, outputs=("out",))
    head = out.array[:32].view(np.uint32)
    assert head[abi.H_ERROR] == code and head[abi.H_HAS_PRICE] == 0
    assert sim.devices["clearing"].error is None


# ---- tile boundaries: the sort's on-chip tiles, prefetch blocks and DDR merge passes ----------

def _side_book(n_sells: int, n_buys: int, prices: int, seed: int) -> list[Order]:
    import random

    rng = random.Random(seed)
    seqs = rng.sample(range(-10 * (n_sells + n_buys), 10 * (n_sells + n_buys)), n_sells + n_buys)
    orders = [Order(f"o{i}", "sell" if i < n_sells else "buy", rng.randint(1, 1000),
                    rng.randrange(prices), seqs[i]) for i in range(n_sells + n_buys)]
    rng.shuffle(orders)
    return orders


@pytest.mark.parametrize("n_sells", [TILE - 1, TILE, TILE + 1, 2 * TILE + 1])
def test_uniform_at_tile_boundaries(n_sells, sim_backend, csim):
    """Sides just under, at and over one tile and across three (two DDR merge passes),
    with few prices so that equal keys straddle tiles: sim, csim and edge.market agree."""
    for n_buys, prices in ((n_sells // 3, 5), (n_sells + 2, 200)):
        orders = _side_book(n_sells, n_buys, prices, seed=n_sells + n_buys)
        want = clear_uniform(orders)
        assert sim_backend.clear_uniform(orders) == want
        assert csim_uniform(csim, orders) == want


@pytest.mark.parametrize("size", [TILE - 1, TILE + 1, 2 * TILE + 3])
def test_merit_at_tile_boundaries(size, sim_backend):
    import random

    rng = random.Random(size)

    def side(prefix: str, n: int) -> list[Unit]:
        seqs = rng.sample(range(4 * n), n)
        out = []
        for i in range(n):
            hi = rng.randrange(1000)
            lo = rng.randrange(hi + 1) if rng.random() < 0.25 else 0
            out.append(Unit(f"{prefix}{i}", lo, hi, rng.randrange(7), seqs[i]))
        return out

    gens, loads = side("g", size), side("l", size + 5)
    assert sim_backend.merit_order(gens, loads) == merit_order(gens, loads)


@SETTINGS
@given(orders=books(max_orders=120))
def test_small_tile_build_agrees(orders, small_csim):
    """The kernel with 16-record tiles: every book over 16 orders a side runs DDR merges."""
    assert csim_uniform(small_csim, orders, "tb_clearing_small") == clear_uniform(orders)


@SETTINGS
@given(gens=units("g", 60), loads=units("l", 60))
def test_small_tile_build_agrees_on_merit(gens, loads, small_csim):
    assert csim_merit(small_csim, gens, loads, "tb_clearing_small") == merit_order(gens, loads)
