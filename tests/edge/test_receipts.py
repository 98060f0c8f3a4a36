"""Anchor receipts are recorded once, and the receipt cursor resumes from what was recorded."""

from __future__ import annotations

import json

from edge.chain.block import GENESIS_PREV, make_block
from edge.chain.keys import generate_key
from edge.runtime.inbox import Inbox
from edge.sync.receipts import check_receipt

HUB = generate_key()
EDGE = "e1" * 32


def receipt(main_height: int) -> dict:
    """A real receipt: a one-leaf main block signed by the hub (its proof is empty)."""
    tx = {"edge": EDGE, "height": main_height * 2, "hash": "00" * 32}
    block = make_block(chain="main", height=main_height, prev=GENESIS_PREV, txs=[tx],
                       ts=1_700_000_000_000 + main_height, key=HUB)
    return {"header": json.loads(block.header.to_bytes()), "index": 0, "tx": tx, "proof": []}


def test_the_receipts_used_here_verify():
    from edge.chain.keys import public_id

    assert check_receipt(receipt(3), public_id(HUB.public_key()), EDGE) == []


def test_receipts_recorded_once_and_cursor_survives_reopen(tmp_path):
    inbox = Inbox(tmp_path / "inbox.db")
    assert inbox.last_receipt_height() == -1
    assert inbox.receipts.add([receipt(0), receipt(3)], 1) == 2
    # Pulled again after a crash that lost the client's cursor file: nothing doubles.
    assert inbox.receipts.add([receipt(3), receipt(4)], 2) == 1
    txs = [json.loads(p.tx) for p in inbox.pending.head(100)]
    assert [t["header"]["height"] for t in txs if t["type"] == "anchor_receipt"] == [0, 3, 4]
    assert inbox.counters()["receipts"] == 3
    inbox.close()
    assert Inbox(tmp_path / "inbox.db").last_receipt_height() == 4
