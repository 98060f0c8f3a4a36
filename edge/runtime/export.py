"""An edge's market intervals as CSV for people: orders, round results and settlements.

Read-only from the inbox (``inbox.db`` in the data folder: SQLite's ``mode=ro``, so an
export on a running edge never writes or locks it). One long table, a ``record`` column
saying what each row is, units in the column names; the stdlib ``csv`` module (no pandas
on the board). Interval times are the market's (Unix seconds, shown as UTC).
"""

from __future__ import annotations

import csv
import json
import sqlite3
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import IO, Any

from edge.chain.store import readonly_uri
from edge.cliargs import InputError
from edge.protocol.fills import FillsError, decode

COLUMNS = ("record", "interval", "interval_start_utc", "round", "final", "gw", "side",
           "qty_wh", "price_micro_per_kwh", "volume_wh", "status", "energy_wh",
           "amount_micro", "carbon_g")


def parse_when(text: str) -> int:
    """An ISO date or date-time (UTC when it names no zone) as Unix seconds."""
    if len(text) > 40:
        raise ValueError(f"{text[:20]!r}... is not a date")
    try:
        dt = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{text!r} is not an ISO date like 2026-06-21 or "
                         "2026-06-21T12:00") from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    return int(dt.timestamp())


def _utc(t: int) -> str:
    return datetime.fromtimestamp(t, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _doc(raw: Any) -> dict[str, Any]:
    text = raw.decode() if isinstance(raw, bytes | bytearray | memoryview) else str(raw)
    doc = json.loads(text)
    return doc if isinstance(doc, dict) else {}


def _fills(interval: int, rnd: int, block: bytes) -> list[dict[str, Any]]:
    """The stored block's fills; a block that does not decode is named, not a traceback."""
    try:
        return decode(block, interval)
    except FillsError as exc:
        raise InputError(f"interval {interval} round {rnd}: the stored fills block does not "
                         f"decode ({exc})") from None


def rows(db: sqlite3.Connection, start: int, end: int) -> Iterator[dict[str, Any]]:
    """Every order, result (with its fills) and settlement of intervals in [start, end)."""
    for interval, rnd, raw in db.execute(
            "SELECT interval, round, raw FROM inbox WHERE type = 'bid' AND interval >= ? "
            "AND interval < ? ORDER BY interval, round, id", (start, end)):
        m = _doc(raw)
        yield {"record": "order", "interval": interval, "round": rnd, "gw": m.get("gw"),
               "side": m.get("side"), "qty_wh": m.get("qty_wh"),
               "price_micro_per_kwh": m.get("price"),
               "status": "sealed" if "sealed" in m else ""}
    # an inbox written before results had a fills block keeps its fills in the JSON (and
    # may not have the table yet when it is read without being opened by the edge)
    tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    block = ("(SELECT block FROM result_fills f WHERE f.interval = r.interval "
             "AND f.round = r.round)" if "result_fills" in tables else "NULL")
    for interval, rnd, final, raw, fills in db.execute(
            f"SELECT interval, round, final, raw, {block} FROM results r WHERE interval >= ? "
            "AND interval < ? ORDER BY interval, round", (start, end)):
        m = _doc(raw)
        yield {"record": "result", "interval": interval, "round": rnd, "final": final,
               "price_micro_per_kwh": m.get("price"), "volume_wh": m.get("volume_wh"),
               "status": m.get("regime")}
        for f in _fills(interval, rnd, fills) if fills is not None else m.get("fills") or []:
            yield {"record": "fill", "interval": interval, "round": rnd, "final": final,
                   "gw": f.get("gw"), "side": f.get("side"), "qty_wh": f.get("qty_wh"),
                   "status": f.get("status")}
    for interval, raw in db.execute(
            "SELECT interval, raw FROM settlements WHERE interval >= ? AND interval < ? "
            "ORDER BY interval, gw", (start, end)):
        m = _doc(raw)
        yield {"record": "settlement", "interval": interval, "final": 1, "gw": m.get("gw"),
               "price_micro_per_kwh": m.get("price"), "energy_wh": m.get("energy_wh"),
               "amount_micro": m.get("amount_micro"), "carbon_g": m.get("carbon_g")}


def open_inbox(db_dir: str | Path, start: int, end: int) -> sqlite3.Connection:
    """The data folder's inbox, read-only, after the checks (so no output file is begun
    for an export that cannot run)."""
    inbox = Path(db_dir) / "inbox.db"
    if not Path(db_dir).is_dir():
        raise InputError(f"{db_dir} is not a folder (give the edge's data folder)")
    if not inbox.is_file():
        raise InputError(f"no inbox.db in {db_dir} (is it the edge's data folder?)")
    if end <= start:
        raise InputError("--to must be after --from")
    db = sqlite3.connect(readonly_uri(inbox), uri=True)
    db.execute("SELECT 1 FROM results LIMIT 1").fetchall()  # not an inbox: fails here
    return db


def export(db: sqlite3.Connection, start: int, end: int, out: IO[str]) -> int:
    """Write the CSV of [start, end) to ``out``; the number of rows written."""
    try:
        w = csv.DictWriter(out, COLUMNS, restval="", extrasaction="ignore")
        w.writeheader()
        n = 0
        for row in rows(db, start, end):
            row["interval_start_utc"] = _utc(int(row["interval"]))
            w.writerow({k: ("" if v is None else v) for k, v in row.items()})
            n += 1
        return n
    finally:
        db.close()
