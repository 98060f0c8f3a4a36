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


def test_two_main_headers_at_one_height_raise_an_alarm(tmp_path):
    inbox = Inbox(tmp_path / "inbox.db")
    first = receipt(5)
    assert inbox.receipts.add([first], 1) == 1
    # the hub (or a second hub key) signs another main block at height 5
    tx = {"edge": EDGE, "height": 11, "hash": "11" * 32}
    other = make_block(chain="main", height=5, prev=GENESIS_PREV, txs=[tx],
                       ts=1_700_000_000_005, key=HUB)
    forked = {"header": json.loads(other.header.to_bytes()), "index": 0, "tx": tx, "proof": []}
    assert forked["header"] != first["header"]
    assert inbox.receipts.add([forked], 2) == 0  # not recorded on our chain
    [alarm] = inbox.receipts.alarms()
    assert alarm["kind"] == "main_fork" and "main height 5" in alarm["detail"]
    assert inbox.counters()["alarms:main_fork"] == 1
    # the pinned header still holds; the same receipt again is no alarm
    assert inbox.receipts.add([first], 3) == 0 and len(inbox.receipts.alarms()) == 1
    txs = [json.loads(p.tx) for p in inbox.pending.head(100)]
    assert [t["tx"]["height"] for t in txs] == [10]
    inbox.close()
