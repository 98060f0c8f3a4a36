"""Builders for gateway messages used by the edge tests (real tags, real canonical bytes)."""

from __future__ import annotations

from typing import Any

from edge.protocol.auth import add_tag
from edge.protocol.canonical import canonical

SITE = "s1"


def telemetry(gw: str, seq: int, ts: int, key: bytes, site: str = SITE, **extra: Any) -> bytes:
    body = {"v": 1, "type": "telemetry", "site": site, "gw": gw, "seq": seq, "ts": ts,
            "readings": [{"dev": "m1", "kind": "meter", "q": "good", "ts": ts, "p_w": 1500,
                          "e_imp_wh": 1000 + seq, "e_exp_wh": 10}], **extra}
    return canonical(add_tag(body, key))


def bid(gw: str, seq: int, ts: int, key: bytes, interval: int, side: str, qty: int, price: int,
        rnd: int = 0, site: str = SITE) -> bytes:
    body = {"v": 1, "type": "bid", "site": site, "gw": gw, "seq": seq, "ts": ts,
            "interval": interval, "side": side, "qty_wh": qty, "price": price}
    if rnd:
        body["round"] = rnd
    return canonical(add_tag(body, key))


def status(gw: str, seq: int, ts: int, key: bytes, state: str = "online",
           site: str = SITE) -> bytes:
    body = {"v": 1, "type": "status", "site": site, "gw": gw, "seq": seq, "ts": ts,
            "state": state}
    return canonical(add_tag(body, key))


def topic(gw: str, kind: str, site: str = SITE) -> str:
    return f"site/{site}/gw/{gw}/{kind}"
