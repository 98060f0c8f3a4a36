"""What the status page shows per gateway: newest telemetry, birth/death, hub meters.

Fed by the ingest writer after each commit (only accepted messages) and by
the edge's own Modbus pollers; seeded from the inbox at start so a restart
does not blank the page.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from typing import Any

from edge.clock import Clock
from edge.runtime.admission import Accepted


class GatewayBoard:
    def __init__(self, clock: Clock, last_telemetry: dict[str, dict[str, Any]]) -> None:
        self.clock = clock
        self.last_telemetry = dict(last_telemetry)
        self.state: dict[str, dict[str, Any]] = {}
        self.meters: dict[str, dict[str, Any]] = {}
        self.lock = threading.Lock()

    def seen(self, accepted: Iterable[Accepted]) -> None:
        newest: dict[str, Accepted] = {}  # a batch's newest telemetry per gateway, copied once
        with self.lock:
            for a in accepted:
                if a.type == "telemetry":
                    top = newest.get(a.gw)
                    if top is None or top.seq < a.seq:
                        newest[a.gw] = a
                elif a.type == "status":
                    self.state[a.gw] = {"state": a.raw["state"], "ts": a.raw["ts"],
                                        "fw": a.raw.get("fw", ""),
                                        "counters": a.raw.get("counters", {})}
            wall = self.clock.wall_ms()
            for gw, a in newest.items():
                prev = self.last_telemetry.get(gw)
                if prev is None or prev.get("seq", -1) < a.seq:
                    self.last_telemetry[gw] = {**a.raw, "recv_ms": wall}

    def meter(self, dev: str, reading: dict[str, Any]) -> None:
        with self.lock:
            self.meters[dev] = reading

    def view(self, gateway_ids: Iterable[str]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        with self.lock:
            for g in gateway_ids:
                t = self.last_telemetry.get(g, {})
                out[g] = {"seq": t.get("seq"), "recv_ms": t.get("recv_ms"),
                          "readings": t.get("readings", []), "energy": t.get("energy"),
                          **self.state.get(g, {"state": "unknown"})}
            if self.meters:
                out["(hub meters)"] = {"readings": list(self.meters.values())}
        return out
