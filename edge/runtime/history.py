"""The last day of one edge, read back for its dashboard: plain numbers, no side effects.

Each function reads what the inbox and the chain already keep (final
results, the gateways' interval energy, battery readings, block and receipt
times) and returns short series for edge.web.dashboard. Reads are bounded
(the last day, at most a few thousand rows) so that a page view costs the
board milliseconds, whatever the size of the stores.
"""

from __future__ import annotations

import json
from collections import defaultdict
from typing import Any

DAY_MS = 86_400_000
MAX_ROWS = 5000


def _text(raw: Any) -> str:
    return raw.decode() if isinstance(raw, bytes | bytearray | memoryview) else str(raw)


def interval_series(results: list[dict[str, Any]], since_s: int
                    ) -> list[tuple[int, int | None, int]]:
    """(interval start, price, volume) of every final result since `since_s`, oldest first."""
    rows = [(int(r["interval"]), r.get("price"), int(r.get("volume_wh", 0)))
            for r in results if r.get("final") and int(r["interval"]) >= since_s]
    return sorted(rows)


def energy_and_soc(db: Any, since_ms: int
                   ) -> tuple[dict[str, list[tuple[int, int, int]]],
                              dict[str, list[tuple[int, float]]]]:
    """Per gateway its interval energy (start, import Wh, export Wh), per battery its SOC %.

    Both come from telemetry received since `since_ms`: energy from the
    messages that close an interval, SOC from every battery reading.
    """
    rows = db.read("SELECT gw, raw FROM inbox WHERE type = 'telemetry' AND recv_ms >= ? "
                   "ORDER BY id DESC LIMIT ?", (since_ms, MAX_ROWS))
    energy: dict[str, dict[int, tuple[int, int]]] = defaultdict(dict)
    soc: dict[str, list[tuple[int, float]]] = defaultdict(list)
    for gw, raw in rows:
        try:
            m = json.loads(_text(raw))
        except ValueError:
            continue
        e = m.get("energy")
        if isinstance(e, dict) and isinstance(e.get("interval"), int):
            energy[gw][e["interval"]] = (int(e.get("imp_wh", 0)), int(e.get("exp_wh", 0)))
        for r in m.get("readings", []):
            if r.get("kind") == "battery" and isinstance(r.get("soc_pm"), int):
                soc[r.get("dev", gw)].append((int(r.get("ts", m.get("ts", 0))),
                                              r["soc_pm"] / 10))
    return ({gw: sorted((k, i, x) for k, (i, x) in per.items()) for gw, per in energy.items()},
            {dev: sorted(pts) for dev, pts in soc.items()})


def heights(store: Any, receipts_db: Any, since_ms: int) -> list[tuple[int, int, int]]:
    """(wall ms, chain height, anchored height) at each block and receipt of the last day."""
    events: list[tuple[int, str, int]] = []
    top = store.height()
    for h in range(max(0, top - MAX_ROWS), top + 1):
        got = store.header_bytes(h)
        if got is None:
            continue
        ts = int(json.loads(got[1]).get("ts", 0))
        if ts >= since_ms:
            events.append((ts, "block", h))
    for (raw,) in receipts_db.read("SELECT raw FROM receipts ORDER BY main_height DESC "
                                   "LIMIT ?", (MAX_ROWS,)):
        try:
            r = json.loads(_text(raw))
            ts, h = int(r["header"]["ts"]), int(r["tx"]["height"])
        except (ValueError, KeyError, TypeError):
            continue
        if ts >= since_ms:
            events.append((ts, "anchor", h))
    out, chain, anchored = [], -1, -1
    for ts, kind, h in sorted(events):
        if kind == "block":
            chain = max(chain, h)
        else:
            anchored = max(anchored, h)
        out.append((ts, chain, anchored))
    return out
