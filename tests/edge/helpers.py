"""Shared pieces of the edge tests: message builders (real tags, real canonical bytes),
a firmware substation on the tests' market clock, and the order books as the inbox records them."""

from __future__ import annotations

import json
import sqlite3
import time
from dataclasses import dataclass, replace
from typing import Any

from edge.clock import Clock
from edge.market.clearing import Order
from edge.protocol.auth import add_tag
from edge.protocol.canonical import canonical
from tests.kit.firmware import TEST_KEY_HEX, gateway_config

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


def carbon_bid(gw: str, seq: int, ts: int, key: bytes, side: str, price: int,
               valid_from: int = 0, valid_to: int = 1 << 40, site: str = SITE) -> bytes:
    body = {"v": 1, "type": "carbon_bid", "site": site, "gw": gw, "seq": seq, "ts": ts,
            "side": side, "price": price, "valid_from": valid_from, "valid_to": valid_to}
    return canonical(add_tag(body, key))


def status(gw: str, seq: int, ts: int, key: bytes, state: str = "online",
           site: str = SITE) -> bytes:
    body = {"v": 1, "type": "status", "site": site, "gw": gw, "seq": seq, "ts": ts,
            "state": state}
    return canonical(add_tag(body, key))


def topic(gw: str, kind: str, site: str = SITE) -> str:
    return f"site/{site}/gw/{gw}/{kind}"


# --- a substation of firmware gateways on the tests' market clock ---------------------------
ACCEL = 60.0
INTERVAL = 300  # 5 min of market time = 5 s of wall time


@dataclass
class Substation:
    broker: Any
    edge: Any
    clock: Clock
    gateways: list[Any]


def substation(broker_factory, device_servers, firmware_factory, edge_factory, gws: list[str],
               max_rounds: int, policy: dict[str, dict] | None = None,
               tick: int | None = None, sealed: bool = False, hub: Any = None,
               round_s: float = 10) -> Substation:
    """TLS broker with an ACL, one simulated meter per gateway, the edge (sim PL), the firmware.

    The market clock runs x60 and starts 200 s before an interval boundary; gate 60 s, a round
    every 10 s. Meters 1 and 3 carry PV at 09:00 (sellers), meter 2 does not (a buyer).
    `sealed`: the site requires sealed bids (edge and gateways); `hub`: the edge syncs to it.
    """
    broker = broker_factory(tls=True, acl=True, gateways=gws)
    devices = device_servers(meters=len(gws), batteries=0, accel=ACCEL,
                             start="2024-06-21T09:00:00")
    host, port = devices.tcp()
    wall = int(time.time() * 1000)
    origin = (wall // (INTERVAL * 1000) + 1) * INTERVAL * 1000 - 200_000
    clock = Clock(ACCEL, wall, origin)
    extra_edge: dict[str, Any] = {}
    if hub is not None:
        extra_edge["sync"] = {"url": hub.url, "hub_id": hub.hub_id, "interval_s": 0.3,
                              "allow_insecure_http": True}
    edge = edge_factory(
        broker, dict.fromkeys(gws, TEST_KEY_HEX), start=hub is None,
        clock={"accel": ACCEL, "origin_wall_ms": wall, "origin_sim_ms": origin},
        admission={"past_s": 3600, "future_s": 600},
        market={"interval_s": INTERVAL, "gate_s": 60, "round_s": round_s,
                "max_rounds": max_rounds, "sealed": sealed},
        pl={"backend": "sim"}, **extra_edge)
    if hub is not None:
        from edge.chain.keys import load_private_key
        hub.register(load_private_key(edge.key_path), site="s1")
        edge.start()
    fws = []
    for i, gw in enumerate(gws, start=1):
        dev = [{"name": f"m{i}", "kind": "meter", "unit": i, "host": host, "port": port,
                "max_w": 40000}]
        extra: dict[str, Any] = {"edge_signer": edge.edge_id, "sealed": sealed}
        if policy is not None:
            extra["policy"] = {**policy[gw], "tick": tick}
        cfg = gateway_config(broker, dev, gw=gw, interval_s=INTERVAL, poll_ms=100,
                             telemetry_every=5,
                             clock={"accel": int(ACCEL), "start_ms": clock.now_ms()}, **extra)
        fws.append(firmware_factory(cfg))
    return Substation(broker, edge, clock, fws)


def quotes_by_round(db: sqlite3.Connection, interval: int, last: int) -> list[tuple[Order, ...]]:
    """Rounds 0..last of an interval as the edge's inbox records them.

    Round 0 folds the first quotes in acceptance order (a later one replaces an earlier one
    and takes a new number); round k is round k-1 with the round-k revisions (new price and
    quantity, same number).
    """
    base: dict[str, Order] = {}
    revisions: dict[int, dict[str, dict]] = {}
    n = 0
    for (raw,) in db.execute("SELECT raw FROM inbox WHERE type='bid' AND interval=? ORDER BY id",
                             (interval,)):
        b = json.loads(raw)
        if b.get("round", 0) == 0:
            n += 1
            base.pop(b["gw"], None)
            base[b["gw"]] = Order(b["gw"], b["side"], b["qty_wh"], b["price"], n)
        else:
            revisions.setdefault(b["round"], {})[b["gw"]] = b
    out = [tuple(base.values())]
    for k in range(1, last + 1):
        rev = revisions.get(k, {})
        out.append(tuple(replace(o, qty_wh=rev[o.id]["qty_wh"], price=rev[o.id]["price"])
                         if o.id in rev else o for o in out[-1]))
    assert not [k for k in revisions if k > last], f"revisions after the final round {last}"
    return out
