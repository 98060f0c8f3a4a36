"""Metered evidence as the hub serves it: telemetry on an edge chain, anchored by a main block."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from edge.chain.block import GENESIS_PREV, make_block
from edge.chain.keys import PrivateKey, public_id
from edge.chain.merkle import levels, proof_from_levels
from edge.sync.receipts import MAIN_CHAIN


def telemetry(gw: str, seq: int, interval: int, gen_wh: int, imp_wh: int = 0) -> str:
    return json.dumps({
        "v": 1, "site": "feeder-33", "gw": gw, "seq": seq, "ts": interval * 1000 + 900_000,
        "tag": "ab" * 32, "type": "telemetry", "readings": [],
        "energy": {"interval": interval, "imp_wh": imp_wh, "exp_wh": gen_wh, "gen_wh": gen_wh},
    })


def digest_tx(payload: str) -> dict[str, Any]:
    msg = json.loads(payload)
    return {"type": "telemetry_digest", "gw": msg["gw"], "seq": msg["seq"], "ts": msg["ts"],
            "sha256": hashlib.sha256(payload.encode()).hexdigest()}


def evidence(payloads: list[str], edge_key: PrivateKey, hub_key: PrivateKey,
             extra_txs: list[dict[str, Any]] = ()) -> list[dict[str, Any]]:
    """Block 0 holds the digests (and ``extra_txs``), block 1 links, main block 0 anchors 1."""
    txs = [digest_tx(p) for p in payloads] + list(extra_txs)
    b0 = make_block(chain="edge-a", height=0, prev=GENESIS_PREV, txs=txs, ts=1, key=edge_key)
    b1 = make_block(chain="edge-a", height=1, prev=b0.header.hash(), txs=[{"kind": "x"}], ts=2,
                    key=edge_key)
    entry = {"edge": public_id(edge_key.public_key()), "height": 1, "hash": b1.header.hash()}
    main = make_block(chain=MAIN_CHAIN, height=0, prev=GENESIS_PREV, txs=[entry], ts=3,
                      key=hub_key)
    receipt = {"header": json.loads(main.header.to_bytes()), "index": 0, "tx": entry,
               "proof": []}
    tree = levels(b0.txs)
    return [{"payload": p, "proof": {
        "header": json.loads(b0.header.to_bytes()), "index": i, "tx": txs[i],
        "proof": [x.hex() for x in proof_from_levels(tree, i)],
        "anchor": {"link": [json.loads(b1.header.to_bytes())], "receipt": receipt}}}
        for i, p in enumerate(payloads)]
