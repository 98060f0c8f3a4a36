"""Hub ingest benchmark: verified edge blocks per second, 1,000 transactions each.

Each block goes through exactly what POST /v1/edges/{id}/blocks does after
authentication: canonical encoding of header and transactions,
edge.chain.verify.check_block (signature, producer, Merkle root, link, time
order) and one transaction per request (batch of 10 blocks) writing the
headers and the transaction rows in bulk (COPY on PostgreSQL, executemany on
SQLite). Measured in the same run on SQLite (file, WAL, synchronous=FULL),
whose rate is the baseline of the PostgreSQL case (a fresh database at
127.0.0.1:5432; skipped with the reason when none is reachable), so that
case's `ratio` is PostgreSQL / SQLite (target >= 1). The SQLite case's
baseline is bare verification of the same blocks with no database: its
ratio is the share of time not spent on storage.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._common import args, line  # noqa: E402
from edge.chain.block import GENESIS_PREV, BlockHeader, make_block  # noqa: E402
from edge.chain.keys import generate_key, public_id  # noqa: E402
from edge.chain.verify import check_block  # noqa: E402
from edge.protocol.canonical import canonical  # noqa: E402

TXS = 1000
BATCH = 10
TARGET = "blocks/s>=20"  # = the chain's 20,000 tx/s target at 1,000 tx per block
PG_TARGET = "ratio>=1 (PostgreSQL at least SQLite's rate)"
NOW_MS = 1_700_000_100_000


def make_chain(n: int):
    key = generate_key()
    blocks, prev, ts = [], GENESIS_PREV, 1_700_000_000_000
    for h in range(n):
        txs = [{"v": 1, "type": "settlement", "site": "s1", "gw": f"gw{i % 500}",
                "interval": 1_700_000_100 + h, "energy_wh": 100 + i % 900,
                "amount_micro": 90_000 + i, "carbon_g": i % 700, "ts": ts + i} for i in range(TXS)]
        block = make_block(chain="site-a", height=h, prev=prev, txs=txs, ts=ts + h, key=key)
        blocks.append({"header": json.loads(block.header.to_bytes()), "txs": block.tx_objects()})
        prev = block.header.hash()
    return key, blocks


def verify_only(blocks, edge_id: str) -> float:
    t = time.perf_counter()
    prev = None
    for b in blocks:
        raw = canonical(b["header"])
        txs = [canonical(x) for x in b["txs"]]
        header = BlockHeader.from_bytes(raw)
        _, problem = check_block(header.height, header.hash(), raw, txs, prev, [edge_id])
        assert problem is None, problem
        prev = header
    return len(blocks) / (time.perf_counter() - t)


def ingest_rate(url: str, key, blocks) -> float:
    from hub.service import ingest, registry
    from hub.service.db import Database

    db = Database(url)
    edge_id = public_id(key.public_key())
    registry.register_edge(db, f"bench-{edge_id[:8]}", edge_id, now_ms=NOW_MS)
    t = time.perf_counter()
    for i in range(0, len(blocks), BATCH):
        res = ingest.ingest_batch(db, edge_id, blocks[i:i + BATCH], now_ms=NOW_MS)
        assert res.accepted == len(blocks[i:i + BATCH])
    rate = len(blocks) / (time.perf_counter() - t)
    db.close()
    return rate


def postgres_url():
    try:
        import psycopg
    except ImportError:
        return None, None, "psycopg not installed"
    for user in ("postgres", "root"):
        try:
            conn = psycopg.connect(f"postgresql://{user}@127.0.0.1:5432/test", autocommit=True,
                                   connect_timeout=3)
        except Exception as exc:  # noqa: BLE001
            err = str(exc).splitlines()[0]
            continue
        name = f"hub_bench_{uuid.uuid4().hex[:10]}"
        conn.execute(f'CREATE DATABASE "{name}"')
        return f"postgresql+psycopg://{user}@127.0.0.1:5432/{name}", (conn, name), None
    return None, None, f"no PostgreSQL at 127.0.0.1:5432 ({err})"


def main() -> None:
    opts = args(__doc__.splitlines()[0])
    n = 20 if opts.quick else 200
    key, blocks = make_chain(n)
    edge_id = public_id(key.public_key())
    base = verify_only(blocks, edge_id)
    line("hub_ingest", f"verify_only_{TXS}tx", base, "blocks/s", target=None, blocks=n)
    with tempfile.TemporaryDirectory() as d:
        lite = ingest_rate(f"sqlite:///{d}/hub.db", key, blocks)
    line("hub_ingest", f"sqlite_{TXS}tx_batch{BATCH}", lite, "blocks/s", baseline=base,
         target=TARGET, blocks=n, tx_per_s=round(lite * TXS), baseline_is="verify_only")
    url, admin, why = postgres_url()
    if url is None:
        print(json.dumps({"bench": "hub_ingest", "case": f"postgres_{TXS}tx_batch{BATCH}",
                          "value": None, "unit": "blocks/s", "baseline": round(lite, 6),
                          "ratio": None, "target": PG_TARGET, "skipped": why}), flush=True)
        return
    try:
        rate = ingest_rate(url, key, blocks)
        line("hub_ingest", f"postgres_{TXS}tx_batch{BATCH}", rate, "blocks/s", baseline=lite,
             target=PG_TARGET, blocks=n, tx_per_s=round(rate * TXS), baseline_is="sqlite")
    finally:
        conn, name = admin
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.close()


if __name__ == "__main__":
    main()
