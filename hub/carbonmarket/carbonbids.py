"""The carbon book's prices from the edge chains: the carbon bids the gateways sent.

A gateway whose carbon policy is on (``carbon_bid`` = limit | advised)
sends a tagged ``carbon_bid`` message (edge.protocol.messages.CarbonBid)
when a price signal arrives; its edge admits it (tag, time, sequence) and
writes it to its chain as received. The hub holds those blocks (pushed,
then anchored), so the quote a participant clears at is one its own gateway
committed to on a chain, not one the hub made up.

``carbon_bids`` reads chain leaves: every leaf of type ``carbon_bid`` is
checked against the wire model (an edge that chains something the model
refuses gets it counted, never cleared); of a gateway's bids sent during the
cycle (``ts``, which the edge admitted within its time window) the one with
the highest sequence number counts (a gateway's data sequence only grows).
The bid's validity is the price signal's that prompted it, which may name
intervals after the cycle's end (signals price intervals ahead): the cycle
clears what was quoted during it. The tag is the edge's check: the hub
holds no gateway keys, the edge's signed block vouches for the admission.

``book_price`` says what a participant's carbon bid means for the book: a
quote on the side its verified position takes (sell when positive or a PVP,
buy when negative), else no order. Quantities never come from a bid: the
hub sizes orders from verified meter evidence.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field

from pydantic import ValidationError

from edge.protocol.messages import CarbonBid


@dataclass(frozen=True)
class SeenBid:
    """A gateway's carbon bid as found on an edge chain, and where."""

    gw: str
    side: str
    price: int
    seq: int
    valid_from: int
    valid_to: int
    edge: str
    height: int
    index: int


@dataclass
class CarbonBids:
    """The counting bid of each gateway, and leaves refused by reason."""

    by_gw: dict[str, SeenBid] = field(default_factory=dict)
    refused: dict[str, int] = field(default_factory=dict)

    def refuse(self, reason: str) -> None:
        self.refused[reason] = self.refused.get(reason, 0) + 1


def carbon_bids(leaves: Iterable[tuple[str, int, int, bytes]], site: str, start_s: int,
                end_s: int) -> CarbonBids:
    """The carbon bids of ``site`` sent during [start_s, end_s) (their ``ts``) among chain
    leaves (edge id, height, index, leaf bytes); other leaf types are skipped."""
    out = CarbonBids()
    for edge, height, index, raw in leaves:
        if b'"carbon_bid"' not in raw:
            continue  # cheap skip of telemetry digests and the rest
        try:
            obj = json.loads(raw)
        except ValueError:
            continue  # not a message leaf of ours: the chain's own checks own it
        if not isinstance(obj, dict) or obj.get("type") != "carbon_bid":
            continue
        try:
            bid = CarbonBid.model_validate(obj)
        except ValidationError:
            out.refuse("malformed")
            continue
        if bid.site != site:
            out.refuse("other_site")
            continue
        if not start_s <= bid.ts // 1000 < end_s:
            out.refuse("outside_cycle")
            continue
        prev = out.by_gw.get(bid.gw)
        if prev is not None:
            out.refuse("superseded")  # one of the two gives way, whichever comes first
            if prev.seq >= bid.seq:
                continue
        out.by_gw[bid.gw] = SeenBid(bid.gw, bid.side, bid.price, bid.seq, bid.valid_from,
                                    bid.valid_to, edge, height, index)
    return out


def book_side(role: str, verified_g: int) -> str:
    """The side a verified position takes in the book: a PVP's quota and a CEC surplus
    sell, a CEC deficit buys."""
    return "sell" if role == "pvp" or verified_g > 0 else "buy"


def book_price(role: str, verified_g: int, bid: SeenBid | None) -> int | None:
    """The participant's price in the book from its carbon bid; None when it has no bid on
    the side its position takes (no order)."""
    if bid is None or bid.side != book_side(role, verified_g):
        return None
    return bid.price
