"""Anchor receipts are recorded once, and the receipt cursor resumes from what was recorded."""

from __future__ import annotations

import json

from edge.runtime.inbox import Inbox


def receipt(main_height: int) -> dict:
    return {"header": {"height": main_height, "chain": "main"}, "index": 0,
            "tx": {"edge": "e", "height": main_height * 2, "hash": "00" * 32}, "proof": []}


def test_receipts_recorded_once_and_cursor_survives_reopen(tmp_path):
    inbox = Inbox(tmp_path / "inbox.db")
    assert inbox.last_receipt_height() == -1
    assert inbox.add_receipts([receipt(0), receipt(3)], 1) == 2
    # Pulled again after a crash that lost the client's cursor file: nothing doubles.
    assert inbox.add_receipts([receipt(3), receipt(4)], 2) == 1
    txs = [json.loads(p.tx) for p in inbox.pending_head(100)]
    assert [t["header"]["height"] for t in txs if t["type"] == "anchor_receipt"] == [0, 3, 4]
    assert inbox.counters()["receipts"] == 3
    inbox.close()
    assert Inbox(tmp_path / "inbox.db").last_receipt_height() == 4
