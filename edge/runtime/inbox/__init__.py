"""The edge's durable state on SQLite: accepted messages first, then everything derived.

One database file (``db``: WAL, synchronous=FULL, one connection, one
re-entrant write transaction). A message counts as accepted only once the
transaction holding it (with its sequence window, its counters and the chain
transactions it produces) is committed, and only then is its MQTT PUBACK
sent. After SIGKILL or a power cut either the whole batch is there or none
of it, and an unacknowledged message is redelivered by the broker and
recognised by its sequence number.

One concept per part, all over the same connection:

- ``messages``: accepted gateway messages, sequence windows, gaps;
- ``pending``: chain transactions waiting for a block (the unflushed block);
- ``market``: signed round results and settlements;
- ``receipts``: anchor receipts from the hub, pinned main-chain heads, alarms;
- ``prices``: price signals from the hub.

Keeping them in one file is what makes "a result and its chain transactions"
one atomic write.
"""

from __future__ import annotations

import os
from collections import Counter

from edge.clock import SYSTEM, Clock
from edge.runtime.inbox.db import Database
from edge.runtime.inbox.hub_records import Prices, Receipts
from edge.runtime.inbox.market import MarketRecords
from edge.runtime.inbox.messages import Messages, Stored
from edge.runtime.inbox.pending import Pending, PendingTx

__all__ = ["Inbox", "PendingTx", "Stored"]


class Inbox:
    """The state database and its parts; ``now_ms`` of pending writers is WALL time."""

    def __init__(self, path: str | os.PathLike[str], clock: Clock = SYSTEM,
                 busy_timeout_s: float = 5.0) -> None:
        self.db = Database(path, clock, busy_timeout_s)
        self.path = self.db.path
        self.pending = Pending(self.db)
        self.messages = Messages(self.db, self.pending)
        self.market = MarketRecords(self.db, self.pending)
        self.receipts = Receipts(self.db, self.pending)
        self.prices = Prices(self.db, self.pending)

    def close(self) -> None:
        self.db.close()

    # the database's own facts: counters and small key/values
    def counters(self) -> dict[str, int]:
        return self.db.counters()

    def count(self, counts: Counter[str]) -> None:
        self.db.bump(counts)

    def meta(self, k: str, default: str | None = None) -> str | None:
        return self.db.meta(k, default)

    def set_meta(self, k: str, v: str) -> None:
        self.db.set_meta(k, v)

    # what the sync client resumes from (edge.sync.client.Recorded)
    def last_receipt_height(self) -> int:
        return self.receipts.last_receipt_height()

    def last_price_ts(self) -> int:
        return self.prices.last_ts()

    def prune(self, received_before_ms: int, bids_before_interval: int) -> int:
        """Drop raw messages that are on the chain, anchored, and older than the horizon."""
        return self.messages.prune_anchored(self.receipts.anchored_height(),
                                            received_before_ms, bids_before_interval)
