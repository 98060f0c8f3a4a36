"""Pure packing and unpacking between Python objects and the kernels' memory layout.

The layout is defined in hls/sha256.h and hls/clearing.h; the constants here
mirror those headers and tests/pl checks that they agree. Nothing here does
I/O, so the same functions serve the pynq and sim back ends (and are what
makes them bit-exact with each other by construction).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from edge.market.clearing import (
    Clearing,
    Dispatch,
    Fill,
    Order,
    Unit,
    validate_orders,
    validate_units,
)

# hls/sha256.h
SHA_MODE_PLAIN, SHA_MODE_LEAF, SHA_MODE_NODE = 0, 1, 2
DIGEST = 32

# hls/clearing.h
CLR_MODE_UNIFORM, CLR_MODE_MERIT = 0, 1
CLR_IN_WORDS, CLR_OUT_WORDS, CLR_HDR_WORDS = 4, 2, 8
H_ERROR, H_BAD_INDEX, H_HAS_PRICE, H_PRICE, H_VOL_LO, H_VOL_HI, H_REGIME, H_ITER = range(8)
CLR_ERRORS = {
    1: "unknown mode",
    2: "too many orders",
    3: "side is not 0 (buy) or 1 (sell)",
    4: "quantity out of range",
    5: "price out of range",
    6: "qmin exceeds qmax",
    7: "rank out of range",
}
STATUS = ("unfilled", "partial", "filled", "excluded")
REGIME = ("no_trade", "buyers_market", "sellers_market", "balanced")

#: Bytes of message data one hashing run takes; bigger batches are split (CMA is small on
#: the board, and table offsets are 32-bit).
MAX_BATCH_BYTES = 64 << 20


def check_digests(digests: Sequence[bytes]) -> None:
    """node_hashes takes an even number of 32-byte digests; say which one is wrong."""
    if len(digests) % 2:
        raise ValueError(f"node_hashes needs an even number of digests, got {len(digests)}")
    for i, d in enumerate(digests):
        if not isinstance(d, (bytes, bytearray, memoryview)) or len(d) != DIGEST:
            raise ValueError(f"digests[{i}] must be 32 bytes, got {type(d).__name__} {len(d)}")


def check_messages(msgs: Sequence[bytes]) -> None:
    for i, m in enumerate(msgs):
        if not isinstance(m, (bytes, bytearray, memoryview)):
            raise TypeError(f"messages[{i}] must be bytes, got {type(m).__name__}")


def split_batches(lengths: Sequence[int], max_items: int, max_bytes: int) -> list[tuple[int, int]]:
    """[start, stop) ranges of messages such that each run fits the kernel's limits."""
    out, start, size = [], 0, 0
    for i, n in enumerate(lengths):
        if i > start and (i - start >= max_items or size + n > max_bytes):
            out.append((start, i))
            start, size = i, 0
        size += n
    if start < len(lengths) or not out:
        out.append((start, len(lengths)))
    return out


def pack_messages(msgs: Sequence[bytes]) -> tuple[bytes, np.ndarray]:
    """Message bytes back to back, and the {offset, length} table (uint32 pairs)."""
    data = b"".join(msgs)
    if len(data) >= 1 << 32:
        raise ValueError("one hashing run takes less than 4 GiB of messages")
    lengths = np.fromiter(map(len, msgs), dtype=np.uint64, count=len(msgs))
    table = np.empty((len(msgs), 2), dtype=np.uint32)
    table[:, 0] = np.cumsum(lengths) - lengths
    table[:, 1] = lengths
    return data, table


def unpack_digests(raw: bytes, count: int) -> list[bytes]:
    return [raw[i : i + DIGEST] for i in range(0, DIGEST * count, DIGEST)]


def ranks(seqs: Sequence[int]) -> np.ndarray:
    """Submission order as 0..n-1 (seqs are unique): the kernel compares 32-bit ranks."""
    order = sorted(range(len(seqs)), key=seqs.__getitem__)
    r = np.empty(len(seqs), dtype=np.uint32)
    r[order] = np.arange(len(seqs), dtype=np.uint32)
    return r


def pack_orders(orders: Sequence[Order]) -> np.ndarray:
    """Validate (the same errors as edge.market) and pack to n x {side, qty, price, rank}."""
    validate_orders(orders)
    words = np.empty((len(orders), CLR_IN_WORDS), dtype=np.uint32)
    if orders:
        words[:, 0] = [o.side == "sell" for o in orders]
        words[:, 1] = [o.qty_wh for o in orders]
        words[:, 2] = [o.price for o in orders]
        words[:, 3] = ranks([o.seq for o in orders])
    return words


def pack_units(gens: Sequence[Unit], loads: Sequence[Unit]) -> np.ndarray:
    """Validate and pack generators then loads to {qmin, qmax, price, rank}."""
    validate_units("generator", gens)
    validate_units("load", loads)
    words = np.empty((len(gens) + len(loads), CLR_IN_WORDS), dtype=np.uint32)
    for lo, units in ((0, gens), (len(gens), loads)):
        if units:
            rows = slice(lo, lo + len(units))
            words[rows, 0] = [u.qmin_wh for u in units]
            words[rows, 1] = [u.qmax_wh for u in units]
            words[rows, 2] = [u.price for u in units]
            words[rows, 3] = ranks([u.seq for u in units])
    return words


def _header(out: np.ndarray, kernel: str) -> tuple[int | None, int]:
    err = int(out[H_ERROR])
    if err:
        why = CLR_ERRORS.get(err, f"error code {err}")
        raise ValueError(f"{kernel} kernel refused item {int(out[H_BAD_INDEX])}: {why}")
    price = int(out[H_PRICE]) if out[H_HAS_PRICE] else None
    return price, int(out[H_VOL_LO]) | (int(out[H_VOL_HI]) << 32)


def unpack_uniform(out: np.ndarray, orders: Sequence[Order]) -> Clearing:
    price, volume = _header(out, "clearing")
    body = out[CLR_HDR_WORDS : CLR_HDR_WORDS + CLR_OUT_WORDS * len(orders)].reshape(-1, 2)
    qty, status = body[:, 0].tolist(), body[:, 1].tolist()
    fills = tuple(
        Fill(o.id, o.side, q, STATUS[s]) for o, q, s in zip(orders, qty, status, strict=True)
    )
    return Clearing(price, volume, REGIME[int(out[H_REGIME])], fills)


def unpack_merit(out: np.ndarray, gens: Sequence[Unit], loads: Sequence[Unit]) -> Dispatch:
    price, volume = _header(out, "clearing")
    n = len(gens) + len(loads)
    qty = out[CLR_HDR_WORDS : CLR_HDR_WORDS + CLR_OUT_WORDS * n : 2].tolist()
    gen_wh = {g.id: q for g, q in zip(gens, qty[: len(gens)], strict=True)}
    load_wh = {u.id: q for u, q in zip(loads, qty[len(gens) :], strict=True)}
    return Dispatch(price, volume, gen_wh, load_wh, bool(out[H_REGIME]))
