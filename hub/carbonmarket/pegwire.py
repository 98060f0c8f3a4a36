"""Owner requests that came over the gateways' wire, forwarded to the electricity side.

A gateway that owns a minted balance asks to spend or burn it with a tagged
``peg_spend`` / ``peg_burn`` message (edge.protocol.messages.PegSpend,
PegBurn) on its own topic; its edge admits it like every gateway message
(tag, time, sequence window) and writes it to its chain as received. The
hub reads those leaves from the edge blocks it holds and hands each, in
chain order, to ``ElectricitySide.spend`` / ``burn``, which checks it again
from scratch: the tag with the gateway's key (peg_unsigned), the shape, the
owner of the balance (peg_not_owner) and the request counter
(peg_replayed_request). The edge's admission is not trusted for any of it;
it only carries the request.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from .errors import Refused

KINDS = ("peg_spend", "peg_burn")


def owner_requests(leaves: Iterable[tuple[str, int, int, bytes]], site: str
                   ) -> list[dict[str, Any]]:
    """The peg requests of ``site`` among chain leaves (edge id, height, index, bytes), in
    chain order, as the gateway tagged them."""
    out = []
    for _edge, _h, _i, raw in leaves:
        if b'"peg_' not in raw:
            continue
        try:
            obj = json.loads(raw)
        except ValueError:
            continue
        if isinstance(obj, dict) and obj.get("type") in KINDS and obj.get("site") == site:
            out.append(obj)
    return out


def forward(e: Any, requests: Iterable[dict[str, Any]], keys: Mapping[str, bytes],
            now_ms: int) -> dict[str, int]:
    """Hand each request to the electricity side ``e``; what happened, counted: "spent",
    "burnt" or the refusal's reason (E counts its refusals too)."""
    done: dict[str, int] = {}
    for req in requests:
        try:
            if req["type"] == "peg_spend":
                e.spend(req, keys, now_ms)
                what = "spent"
            else:
                e.burn(req, keys, now_ms)
                what = "burnt"
        except Refused as exc:
            what = exc.reason.value
        done[what] = done.get(what, 0) + 1
    return done
