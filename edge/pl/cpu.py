"""The cpu back end: hashlib and edge.market.clearing. The reference and the fallback.

Hashing goes through edge.chain.merkle's fastest CPU hasher (a batch loop in C
over OpenSSL where it can be built, else hashlib: the same bytes either way);
inputs are checked with the same functions the PL drivers use, so every back
end refuses the same bad input with the same message.
"""

from __future__ import annotations

from collections.abc import Sequence

from edge.chain.merkle import cpu_hasher, merkle_root
from edge.market import clearing
from edge.market.clearing import Clearing, Dispatch, Order, Unit

from . import abi


class CpuBackend:
    name = "cpu"

    def __init__(self) -> None:
        self._h = cpu_hasher()

    def sha256_many(self, msgs: Sequence[bytes]) -> list[bytes]:
        return self._h.sha256_many(msgs)

    def leaf_hashes(self, leaves: Sequence[bytes]) -> list[bytes]:
        return self._h.leaf_hashes(leaves)

    def node_hashes(self, digests: Sequence[bytes]) -> list[bytes]:
        abi.check_digests(digests)
        return self._h.node_hashes(digests)

    def merkle_root(self, leaves: Sequence[bytes]) -> bytes:
        return merkle_root(leaves, self._h)

    def clear_uniform(self, orders: Sequence[Order]) -> Clearing:
        return clearing.clear_uniform(orders)

    def merit_order(self, gens: Sequence[Unit], loads: Sequence[Unit]) -> Dispatch:
        return clearing.merit_order(gens, loads)
