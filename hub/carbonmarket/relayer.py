"""The relayer: an untrusted process that carries proofs between the carbon and electricity chains.

It holds no key. Each pass it reads both chains (public data), builds for
every lock on C that E has not minted an SPV submission (the C headers E's
light client lacks + the lock's inclusion proof) and drops it into E's
submission box, and likewise for every burn on E that C has not released.
Its progress is durable (SQLite, one row per transfer and step), but it
never relies on it for correctness: a pass re-derives what is left to do
from the chains, and a side refuses anything already done (counted as a
replay). So the relayer can be killed at any point and resumed; every
transfer still ends ``done`` (minted, and every burn released) or
``returned`` (everything burned back and released on C).

    python -m hub.carbonmarket.relayer --config relayer.json [--once]

Config (JSON): {"carbon_chain", "electricity_chain", "carbon_box",
"electricity_box", "state": paths; "carbon_id", "electricity_id": chain ids}.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sqlite3
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .submissions import Submissions
from .twotree import CARBON, ELECTRICITY, Layout, TwoTreeChain, tx_proof

#: Fault injection for the crash tests: SIGKILL ourselves at a named step.
CRASH_ENV = "CARBON_PEG_CRASH_AT"
STEPS = ("discovered", "mint_built", "mint_submitted", "mint_recorded", "minted_seen",
         "unlock_built", "unlock_submitted", "unlock_recorded", "finished")


def crash_point(name: str) -> None:
    if os.environ.get(CRASH_ENV) == name:
        os.kill(os.getpid(), signal.SIGKILL)


@dataclass(frozen=True)
class Config:
    carbon_chain: str
    electricity_chain: str
    carbon_box: str
    electricity_box: str
    state: str
    carbon_id: str = "carbon"
    electricity_id: str = "electricity"

    @classmethod
    def load(cls, path: str) -> Config:
        doc = json.loads(Path(path).read_text())
        if not isinstance(doc, dict):
            raise ValueError(f"{path} holds no config object")
        return cls(**doc)


_SCHEMA = """
CREATE TABLE IF NOT EXISTS transfers (transfer TEXT PRIMARY KEY, stage TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS steps (
    transfer TEXT NOT NULL, step TEXT NOT NULL, sid INTEGER NOT NULL,
    PRIMARY KEY (transfer, step)
) WITHOUT ROWID;
"""


class RelayerState:
    """Where the relayer got to: a stage per transfer and the submission of each step."""

    def __init__(self, path: str) -> None:
        self._db = sqlite3.connect(path, isolation_level=None, timeout=30)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(_SCHEMA)

    def close(self) -> None:
        self._db.close()

    def stages(self) -> dict[str, str]:
        return dict(self._db.execute("SELECT transfer, stage FROM transfers").fetchall())

    def set_stage(self, transfer: str, stage: str) -> None:
        self._db.execute("INSERT INTO transfers (transfer, stage) VALUES (?, ?) ON CONFLICT "
                         "(transfer) DO UPDATE SET stage = excluded.stage", (transfer, stage))

    def step_sid(self, transfer: str, step: str) -> int | None:
        row = self._db.execute("SELECT sid FROM steps WHERE transfer = ? AND step = ?",
                               (transfer, step)).fetchone()
        return None if row is None else row[0]

    def record_step(self, transfer: str, step: str, sid: int) -> None:
        self._db.execute("INSERT OR REPLACE INTO steps (transfer, step, sid) VALUES (?, ?, ?)",
                         (transfer, step, sid))


@dataclass
class _View:
    """One chain as the relayer reads it: where each tx is, and the other chain's headers held."""

    chain: TwoTreeChain
    at: dict[tuple[str, Any], tuple[int, int]]  # (kind, key) -> (height, position)
    txs: dict[tuple[str, Any], dict[str, Any]]
    foreign_held: int  # headers of the other chain this chain's light client holds
    spent: dict[str, int]  # peg spends per transfer (electricity chain)


def _read(path: str, layout: Layout, chain_id: str) -> _View:
    chain = TwoTreeChain(path, layout, chain_id)
    at: dict[tuple[str, Any], tuple[int, int]] = {}
    txs: dict[tuple[str, Any], dict[str, Any]] = {}
    held = 0
    spent: dict[str, int] = {}
    for block in chain.blocks():
        for pos, tx in enumerate(block.tx_objects()):
            kind = tx.get("kind")
            if kind == "xheader":
                held += 1
            elif kind == "peg_spend":
                spent[tx["transfer"]] = spent.get(tx["transfer"], 0) + tx["amount_micro"]
            elif kind in ("lock", "peg_mint"):
                at[(kind, tx["transfer"])] = (block.height, pos)
                txs[(kind, tx["transfer"])] = tx
            elif kind in ("peg_burn", "unlock"):
                at[(kind, (tx["transfer"], tx["n"]))] = (block.height, pos)
                txs[(kind, (tx["transfer"], tx["n"]))] = tx
    return _View(chain, at, txs, held, spent)


def _submission(src: _View, dst: _View, key: tuple[str, Any]) -> dict[str, Any]:
    height, pos = src.at[key]
    return {"headers": src.chain.headers(dst.foreign_held, src.chain.store.height()),
            "proof": tx_proof(src.chain.layout, src.chain.store.get(height), pos)}


def _pending(box: Submissions, sid: int | None) -> bool:
    if sid is None:
        return False
    s = box.get(sid)
    return s is not None and s.state == "pending"


def run_once(cfg: Config) -> dict[str, int]:
    """One pass over every transfer; returns how many submissions it made."""
    c = _read(cfg.carbon_chain, CARBON, cfg.carbon_id)
    e = _read(cfg.electricity_chain, ELECTRICITY, cfg.electricity_id)
    state = RelayerState(cfg.state)
    cbox, ebox = Submissions(cfg.carbon_box), Submissions(cfg.electricity_box)
    made = {"mint": 0, "unlock": 0}
    try:
        stages = state.stages()
        for kind, t in c.at:
            if kind == "lock" and t not in stages:
                state.set_stage(t, "locked")
                stages[t] = "locked"
                crash_point("discovered")
        for t, stage in sorted(stages.items()):
            if stage in ("done", "returned"):
                continue
            if ("peg_mint", t) not in e.at:
                if _pending(ebox, state.step_sid(t, "mint")):
                    continue
                doc = _submission(c, e, ("lock", t))
                crash_point("mint_built")
                sid = ebox.submit("mint", t, doc)
                crash_point("mint_submitted")
                state.record_step(t, "mint", sid)
                state.set_stage(t, "mint_submitted")
                made["mint"] += 1
                crash_point("mint_recorded")
                continue
            if stage in ("locked", "mint_submitted"):
                state.set_stage(t, "minted")
                crash_point("minted_seen")
            mint = e.txs[("peg_mint", t)]
            burns = [k for k in e.at if k[0] == "peg_burn" and k[1][0] == t]
            waiting = False
            for _, (_, n) in burns:
                if ("unlock", (t, n)) in c.at:
                    continue
                waiting = True
                step = f"unlock:{n}"
                if _pending(cbox, state.step_sid(t, step)):
                    continue
                doc = _submission(e, c, ("peg_burn", (t, n)))
                crash_point("unlock_built")
                sid = cbox.submit("unlock", t, doc)
                crash_point("unlock_submitted")
                state.record_step(t, step, sid)
                state.set_stage(t, "unlock_submitted")
                made["unlock"] += 1
                crash_point("unlock_recorded")
            burned = sum(e.txs[k]["amount_micro"] for k in burns)
            outstanding = mint["amount_micro"] - burned - e.spent.get(t, 0)
            if not waiting and outstanding == 0:
                state.set_stage(t, "returned" if burned == mint["amount_micro"] else "done")
                crash_point("finished")
    finally:
        state.close()
        cbox.close()
        ebox.close()
        c.chain.close()
        e.chain.close()
    return made


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="carbon-market relayer", description=__doc__.split("\n")[0])
    p.add_argument("--config", required=True)
    p.add_argument("--once", action="store_true", help="one pass, then exit")
    p.add_argument("--interval", type=float, default=1.0, help="seconds between passes")
    args = p.parse_args(argv)
    cfg = Config.load(args.config)
    stop = False

    def _stop(*_: object) -> None:
        nonlocal stop
        stop = True

    signal.signal(signal.SIGTERM, _stop)
    while True:
        made = run_once(cfg)
        print(json.dumps({"event": "pass", **made}), flush=True)
        if args.once or stop:
            return 0
        time.sleep(args.interval)


if __name__ == "__main__":
    sys.exit(main())
