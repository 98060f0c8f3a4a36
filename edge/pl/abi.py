"""Pure packing and unpacking between Python objects and the kernels' memory layout.

The layout is defined in hls/sha256.h and hls/clearing.h; the constants here
mirror those headers and tests/pl checks that they agree. Nothing here does
I/O, so the same functions serve the pynq and sim back ends (and are what
makes them bit-exact with each other by construction).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

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
CLR_IN_WORDS_UNIFORM, CLR_IN_WORDS_MERIT = 2, 4  # 32-bit words per order / unit in `in`
CLR_OUT_WORDS, CLR_HDR_WORDS = 2, 8
H_ERROR, H_BAD_INDEX, H_HAS_PRICE, H_PRICE, H_VOL_LO, H_VOL_HI, H_REGIME, H_ITER = range(8)
CLR_ERRORS = {
    1: "unknown mode",
    2: "too many orders",
    4: "quantity out of range",
    5: "price out of range",
    6: "qmin exceeds qmax",
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


@dataclass(frozen=True)
class Packed:
    """The clearing kernel's ``in`` words and how they map back to the caller's items.

    The kernel takes each side in submission order (sells or generators first): its stable
    sort on price then IS the spec's (price, seq) order, without a rank field, which keeps a
    sort record at one 64-bit word. ``perm[k]`` is the caller's index of kernel item k (for
    the merit order, an index into gens + loads).
    """

    words: np.ndarray  # uint64
    perm: np.ndarray  # intp
    n_a: int
    n_b: int


def submission_order(seqs: Sequence[int]) -> np.ndarray:
    """Indices that sort ``seqs`` (unique integers) ascending: numpy when they fit int64."""
    try:
        return np.argsort(np.array(seqs, dtype=np.int64), kind="stable").astype(np.intp)
    except OverflowError:  # seqs beyond 64 bits are legal in edge.market: sort them in Python
        return np.array(sorted(range(len(seqs)), key=seqs.__getitem__), dtype=np.intp)


def _column(items: Sequence, attr: str) -> np.ndarray:
    return np.fromiter((getattr(x, attr) for x in items), dtype=np.uint64, count=len(items))


def pack_orders(orders: Sequence[Order]) -> Packed:
    """Validate (the same errors as edge.market) and lay out sells then buys, each by seq,
    as one word per order: qty_wh | price << 32."""
    validate_orders(orders)
    by_seq = submission_order([o.seq for o in orders])
    sell = np.fromiter((o.side == "sell" for o in orders), dtype=bool, count=len(orders))[by_seq]
    perm = np.concatenate([by_seq[sell], by_seq[~sell]])
    words = _column(orders, "qty_wh")[perm] | (_column(orders, "price")[perm] << np.uint64(32))
    return Packed(words, perm, int(sell.sum()), len(orders) - int(sell.sum()))


def pack_units(gens: Sequence[Unit], loads: Sequence[Unit]) -> Packed:
    """Validate and lay out generators then loads, each by seq, as two words per unit:
    qmin_wh | qmax_wh << 32, then price."""
    validate_units("generator", gens)
    validate_units("load", loads)
    perm = np.concatenate([submission_order([u.seq for u in gens]),
                           len(gens) + submission_order([u.seq for u in loads])])
    units = [*gens, *loads]
    words = np.zeros((len(units), 2), dtype=np.uint64)
    words[:, 0] = _column(units, "qmin_wh")[perm] | (_column(units, "qmax_wh")[perm]
                                                     << np.uint64(32))
    words[:, 1] = _column(units, "price")[perm]
    return Packed(words.reshape(-1), perm, len(gens), len(loads))


def _in_caller_order(out: np.ndarray, packed: Packed) -> tuple[list[int], list[int]]:
    """The per-item words of ``out`` (kernel order) as (qty, status) lists in the caller's."""
    n = len(packed.perm)
    body = out[CLR_HDR_WORDS : CLR_HDR_WORDS + CLR_OUT_WORDS * n].reshape(-1, 2)
    qty = np.empty(n, dtype=np.uint32)
    status = np.empty(n, dtype=np.uint32)
    qty[packed.perm] = body[:, 0]
    status[packed.perm] = body[:, 1]
    return qty.tolist(), status.tolist()


def _header(out: np.ndarray, packed: Packed) -> tuple[int | None, int]:
    err = int(out[H_ERROR])
    if err:
        why = CLR_ERRORS.get(err, f"error code {err}")
        bad = int(out[H_BAD_INDEX])
        item = int(packed.perm[bad]) if bad < len(packed.perm) else bad
        raise ValueError(f"clearing kernel refused item {item}: {why}")
    price = int(out[H_PRICE]) if out[H_HAS_PRICE] else None
    return price, int(out[H_VOL_LO]) | (int(out[H_VOL_HI]) << 32)


def unpack_uniform(out: np.ndarray, orders: Sequence[Order], packed: Packed) -> Clearing:
    price, volume = _header(out, packed)
    qty, status = _in_caller_order(out, packed)
    fills = tuple(
        Fill(o.id, o.side, q, STATUS[s]) for o, q, s in zip(orders, qty, status, strict=True)
    )
    return Clearing(price, volume, REGIME[int(out[H_REGIME])], fills)


def unpack_merit(out: np.ndarray, gens: Sequence[Unit], loads: Sequence[Unit],
                 packed: Packed) -> Dispatch:
    price, volume = _header(out, packed)
    qty, _ = _in_caller_order(out, packed)
    gen_wh = {g.id: q for g, q in zip(gens, qty[: len(gens)], strict=True)}
    load_wh = {u.id: q for u, q in zip(loads, qty[len(gens) :], strict=True)}
    return Dispatch(price, volume, gen_wh, load_wh, bool(out[H_REGIME]))
