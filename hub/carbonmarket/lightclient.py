"""A light client: one chain's headers as another chain sees them, for SPV proofs.

It holds the header chain of a foreign chain from its genesis (the chain id
and its producer's key are configured: that is the trust anchor), and the
height up to which the configured oracles have confirmed it by a > 51 % vote
(``anchored``; confirming one header confirms its ancestors, which its hash
commits to). A transaction of the foreign chain is accepted only with an
inclusion proof against a header that the client holds and that is anchored.

Refusals, each with its own reason:
- unknown header: another chain id, another producer, or a bad signature;
- forked header: a header at a height where the client holds another one;
- unanchored header: a header that does not link to the held chain, or
  that the oracles do not confirm (yet).

Pure and in memory; the peg sides rebuild it from their own chain, where
every header they accept is a transaction (so it survives a crash exactly
as far as the block that recorded it).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from edge.chain.block import GENESIS_PREV, BlockHeader
from edge.protocol.canonical import canonical

from .errors import Reason, Refusals, Refused
from .twotree import Layout, check_tx_proof


def parse_header(raw: Any) -> BlockHeader:
    """A header from its JSON object; ``Refused(UNKNOWN_HEADER)`` when it is not one."""
    try:
        return BlockHeader.from_bytes(canonical(raw))
    except (TypeError, ValueError) as exc:
        raise Refused(Reason.UNKNOWN_HEADER, f"not a block header: {exc}") from None


class LightClient:
    def __init__(self, chain_id: str, producer: str) -> None:
        self.chain_id = chain_id
        self.producer = producer
        self.headers: list[BlockHeader] = []  # heights 0..n-1
        self.anchored = -1

    @property
    def height(self) -> int:
        return len(self.headers) - 1

    def head_hash(self) -> str:
        return self.headers[-1].hash() if self.headers else GENESIS_PREV

    def _known_producer(self, h: BlockHeader, refusals: Refusals) -> None:
        if h.chain != self.chain_id or h.producer != self.producer or not h.signature_ok():
            raise refusals.refuse(
                Reason.UNKNOWN_HEADER,
                f"header {h.height} is not signed by the producer of chain {self.chain_id!r}")

    def new_headers(self, raws: Iterable[Any], refusals: Refusals) -> list[BlockHeader]:
        """The headers of ``raws`` this client does not hold yet, checked; nothing is changed."""
        fresh: list[BlockHeader] = []
        tip_height, tip_hash = self.height, self.head_hash()
        tip_ts = self.headers[-1].ts if self.headers else 0
        for raw in raws:
            try:
                h = parse_header(raw)
            except Refused as exc:
                raise refusals.refuse(exc.reason, exc.message) from None
            self._known_producer(h, refusals)
            if h.height <= tip_height:
                held = self.headers[h.height] if h.height <= self.height else fresh[
                    h.height - self.height - 1]
                if held.hash() != h.hash():
                    raise refusals.refuse(Reason.FORKED_HEADER,
                                          f"header {h.height} conflicts with the one held")
                continue
            if h.height != tip_height + 1 or h.prev != tip_hash or h.ts < tip_ts:
                raise refusals.refuse(
                    Reason.UNANCHORED_HEADER,
                    f"header {h.height} does not link to the held chain (tip {tip_height})")
            fresh.append(h)
            tip_height, tip_hash, tip_ts = h.height, h.hash(), h.ts
        return fresh

    def add(self, headers: Iterable[BlockHeader]) -> None:
        for h in headers:
            assert h.height == len(self.headers), "add only what new_headers returned"
            self.headers.append(h)

    def check_anchor(self, height: int, hash_: str, pending: list[BlockHeader],
                     refusals: Refusals) -> None:
        """The header the oracles vouch for must be the one held (or about to be added)."""
        chain = self.headers + pending
        if not 0 <= height < len(chain):
            raise refusals.refuse(Reason.UNANCHORED_HEADER,
                                  f"the oracles vouch for height {height}, which is not held")
        if chain[height].hash() != hash_:
            raise refusals.refuse(Reason.FORKED_HEADER,
                                  f"the oracles' header at {height} differs from the one held")

    def check_inclusion(self, layout: Layout, doc: Any, anchored: int,
                        pending: list[BlockHeader], refusals: Refusals) -> BlockHeader:
        """Check an inclusion proof against a held, anchored header; return that header."""
        if not isinstance(doc, dict):
            raise refusals.refuse(Reason.BAD_PROOF, "the proof must be an object")
        try:
            h = parse_header(doc.get("header"))
        except Refused as exc:
            raise refusals.refuse(exc.reason, exc.message) from None
        self._known_producer(h, refusals)
        chain = self.headers + pending
        if h.height >= len(chain):
            raise refusals.refuse(Reason.UNANCHORED_HEADER,
                                  f"header {h.height} is not in the header chain held")
        if chain[h.height].hash() != h.hash():
            raise refusals.refuse(Reason.FORKED_HEADER,
                                  f"the proof's header {h.height} conflicts with the one held")
        if h.height > anchored:
            raise refusals.refuse(Reason.UNANCHORED_HEADER,
                                  f"header {h.height} is not yet confirmed by the oracles")
        problem = check_tx_proof(layout, h, doc)
        if problem:
            raise refusals.refuse(Reason.BAD_PROOF, problem)
        return h
