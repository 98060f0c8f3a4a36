"""Where a sealed bid could have been read before its gate closed: the check of a sealed day.

At a site that requires sealed bids nothing may tell a price or a quantity
before the round's gate passes. After the day this looks at every place an
outsider or a curious operator could have read one, with the time each
record became readable there:

- the edge's chain (which the hub receives block by block, so the hub never
  holds more than the chain did at that time): no bid in plain text; every
  opening (the result that carries the blob, its price and quantity and the
  round's private key) in a block made at or after its round's gate, each
  blob committed earlier on the chain with the same hash, and opening to the
  published price and quantity with the published key (redone here with
  edge.market.sealed.verify_opening, as any verifier would);
- the edge's inbox: every bid kept as ciphertext only;
- the broker: every message an observer subscribed to the whole site saw,
  with its arrival time: bids ciphertext only, openings not before the gate.

Each finding is one line naming the place, the gateway, the interval and the
round. Pure: the orchestrator gathers the records.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from edge.market import sealed
from simulator.books import ChainTx

GateWall = Callable[[int, int], float]   # (interval s, round) -> wall ms its gate passes


def _plain(msg: Mapping[str, Any]) -> bool:
    return "sealed" not in msg or "price" in msg or "qty_wh" in msg


def chain_leaks(where: str, txs: Sequence[ChainTx], gate_wall_ms: GateWall) -> list[str]:
    out: list[str] = []
    committed: dict[tuple[str, int], str] = {}
    for ct in txs:
        t = ct.tx
        kind = t.get("type")
        if kind == "bid" and _plain(t):
            out.append(f"{where} chain height {ct.height}: plain bid of {t.get('gw')} for "
                       f"interval {t.get('interval')}")
        elif kind == "sealed_bid":
            committed[(t["gw"], t["seq"])] = t["commitment"]
        elif kind == "result" and "sealed" in t:
            op, interval = t["sealed"], t["interval"]
            rnd = op["round"]
            gate = gate_wall_ms(interval, rnd)
            if ct.ts_ms < math.floor(gate):
                out.append(f"{where} chain height {ct.height}: interval {interval} round {rnd} "
                           f"opened in a block of {ct.ts_ms} ms, {gate - ct.ts_ms:.0f} ms "
                           "before its gate")
            for o in op.get("opened", []):
                c = committed.get((o["gw"], o["seq"]))
                try:
                    if c is None:
                        raise sealed.SealedBidError("uncommitted", "no commitment before it")
                    sealed.verify_opening(bytes.fromhex(o["blob"]), c, o["price"], o["qty_wh"],
                                          bytes.fromhex(op["private"]), o["gw"], interval, rnd)
                except (sealed.SealedBidError, ValueError) as exc:
                    out.append(f"{where} chain height {ct.height}: the opening of {o['gw']} "
                               f"seq {o['seq']} (interval {interval} round {rnd}) does not "
                               f"check: {exc}")
    return out


def inbox_leaks(where: str, bids: Iterable[Mapping[str, Any]]) -> list[str]:
    return [f"{where} inbox: bid of {b.get('gw')} seq {b.get('seq')} for interval "
            f"{b.get('interval')} kept in plain text" for b in bids if _plain(b)]


def broker_leaks(where: str, seen: Iterable[tuple[float, str, Mapping[str, Any]]],
                 gate_wall_ms: GateWall) -> list[str]:
    """``seen``: (arrival wall ms, topic, message) of what an observer of the site received."""
    out: list[str] = []
    for at, topic, m in seen:
        if m.get("type") == "bid" and _plain(m):
            out.append(f"{where} broker {topic}: plain bid of {m.get('gw')} for interval "
                       f"{m.get('interval')}")
        elif m.get("type") == "result" and "sealed" in m:
            rnd = m["sealed"]["round"]
            gate = gate_wall_ms(m["interval"], rnd)
            if at < math.floor(gate):
                out.append(f"{where} broker {topic}: interval {m['interval']} round {rnd} "
                           f"opened {gate - at:.0f} ms before its gate")
    return out
