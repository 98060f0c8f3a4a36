"""The inbox's parts share one write transaction; anchored raw messages are pruned."""

from __future__ import annotations

import json
import sqlite3
import struct
from collections import Counter

import pytest

from edge.chain.block import GENESIS_PREV, make_block
from edge.chain.keys import generate_key
from edge.clock import Clock
from edge.runtime.admission import Policy
from edge.runtime.inbox import Inbox
from edge.runtime.ingest import Admitter, Incoming
from tests.edge.helpers import SITE, bid, telemetry, topic

KEY = bytes([1]) * 32
NOW = 1_800_000_000_000
HUB = generate_key()


def anchor(inbox: Inbox, main_height: int, edge_height: int) -> None:
    tx = {"edge": "e1" * 32, "height": edge_height, "hash": "00" * 32}
    block = make_block(chain="main", height=main_height, prev=GENESIS_PREV, txs=[tx],
                       ts=NOW, key=HUB)
    receipt = {"header": json.loads(block.header.to_bytes()), "index": 0, "tx": tx, "proof": []}
    assert inbox.receipts.add([receipt], NOW) == 1


def admit(inbox: Inbox, msgs: list[bytes], kinds: list[str]) -> None:
    adm = Admitter(SITE, {"gw1": KEY}, Policy(), inbox.messages.windows(),
                   Clock(wall=lambda: NOW))
    out = adm.process([Incoming(topic("gw1", k), m, i, 1, NOW - 10_000)
                       for i, (m, k) in enumerate(zip(msgs, kinds, strict=True))], inbox)
    assert not out.rejected


def stored_seqs(inbox: Inbox) -> list[int]:
    db = sqlite3.connect(inbox.path)
    try:
        return [r[0] for r in db.execute("SELECT seq FROM inbox ORDER BY seq")]
    finally:
        db.close()


def test_only_messages_in_anchored_blocks_are_pruned(tmp_path):
    inbox = Inbox(tmp_path / "inbox.db")
    old_interval = 1_700_000_100 - 1_700_000_100 % 900
    admit(inbox, [telemetry("gw1", s, NOW, KEY) for s in (1, 2, 3)]
          + [bid("gw1", 4, NOW, KEY, old_interval, "buy", 100, 90_000)],
          ["telemetry"] * 3 + ["bid"])
    head = inbox.pending.head(100)
    assert len(head) == 4
    inbox.pending.drop(head[1].id, 0)  # block 0: seq 1 and 2
    inbox.pending.drop(head[3].id, 1)  # block 1: seq 3 and the bid
    admit(inbox, [telemetry("gw1", 5, NOW, KEY)], ["telemetry"])  # still pending
    # nothing is anchored yet: nothing goes, however old
    assert inbox.prune(NOW, old_interval + 900) == 0
    anchor(inbox, 0, 0)  # the hub anchors block 0
    assert inbox.prune(NOW, old_interval + 900) == 2
    assert stored_seqs(inbox) == [3, 4, 5]
    anchor(inbox, 1, 1)
    # younger than the horizon: kept
    assert inbox.prune(NOW - 20_000, old_interval + 900) == 0
    # the bid's interval is still one the market may rebuild: kept
    assert inbox.prune(NOW, old_interval) == 1
    assert stored_seqs(inbox) == [4, 5]
    assert inbox.prune(NOW, old_interval + 900) == 1
    assert stored_seqs(inbox) == [5]  # on no anchored block yet
    assert inbox.counters()["pruned_messages"] == 4
    # pruning never reopens a replay: the window still knows seq 1..5
    adm = Admitter(SITE, {"gw1": KEY}, Policy(), inbox.messages.windows(),
                   Clock(wall=lambda: NOW))
    out = adm.process([Incoming(topic("gw1", "telemetry"), telemetry("gw1", 2, NOW, KEY), 9, 1,
                                NOW)], inbox)
    assert [r.reason for _, r in out.rejected] == ["duplicate"]
    inbox.close()


def test_parts_compose_into_one_transaction(tmp_path):
    """A failure inside a composed write leaves none of its parts behind."""
    inbox = Inbox(tmp_path / "inbox.db")
    with pytest.raises(RuntimeError), inbox.db.write():
        inbox.pending.add([{"type": "x"}], NOW)
        inbox.db.bump(Counter({"x": 1}))
        raise RuntimeError("power cut between the parts")
    assert inbox.pending.stats() == (0, None) and inbox.counters() == {}
    inbox.close()


def test_a_message_after_a_full_prune_is_not_taken_for_an_anchored_one(tmp_path):
    """Pruning every row must not let SQLite hand out an old id again: a new message with a
    reused id would sit at or below the anchored block's last message id and be pruned by
    the next pass before any block holds it."""
    inbox = Inbox(tmp_path / "inbox.db")
    admit(inbox, [telemetry("gw1", s, NOW, KEY) for s in (1, 2)], ["telemetry"] * 2)
    head = inbox.pending.head(100)
    inbox.pending.drop(head[1].id, 0)
    anchor(inbox, 0, 0)
    assert inbox.prune(NOW, 0) == 2 and stored_seqs(inbox) == []
    admit(inbox, [telemetry("gw1", 3, NOW - 10, KEY)], ["telemetry"])  # in no block yet
    assert inbox.prune(NOW, 0) == 0
    assert stored_seqs(inbox) == [3]
    inbox.close()


def test_an_inbox_from_before_autoincrement_is_rebuilt_with_its_rows(tmp_path):
    path = tmp_path / "inbox.db"
    inbox = Inbox(path)
    admit(inbox, [telemetry("gw1", s, NOW, KEY) for s in (1, 2)], ["telemetry"] * 2)
    inbox.close()
    db = sqlite3.connect(path)  # turn it into the old table by hand, rows and ids kept
    old_sql = db.execute("SELECT sql FROM sqlite_master WHERE name = 'inbox'").fetchone()[0]
    db.executescript("ALTER TABLE inbox RENAME TO i0;"
                     + old_sql.replace(" AUTOINCREMENT", "") + ";"
                     "INSERT INTO inbox SELECT * FROM i0; DROP TABLE i0;")
    rows = db.execute("SELECT id, seq FROM inbox ORDER BY id").fetchall()
    db.close()
    inbox = Inbox(path)
    db = sqlite3.connect(path)
    sql = db.execute("SELECT sql FROM sqlite_master WHERE name = 'inbox'").fetchone()[0]
    indexes = {r[0] for r in db.execute(
        "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'inbox'"
        " AND name NOT LIKE 'sqlite_%'")}
    assert "AUTOINCREMENT" in sql and indexes == {"inbox_bids", "inbox_recv"}
    assert db.execute("SELECT id, seq FROM inbox ORDER BY id").fetchall() == rows
    db.close()
    inbox.close()


def test_each_chain_tx_names_its_own_message_also_when_a_row_was_there(tmp_path):
    """A batch's new rows get their ids without a read-back when all went in, and by one
    when a row was already there (a redelivery the windows missed): either way each
    pending transaction names the message it records."""
    inbox = Inbox(tmp_path / "inbox.db")
    admit(inbox, [telemetry("gw1", 2, NOW, KEY)], ["telemetry"])
    for seqs in ([1, 2, 3], [4, 5, 6]):  # seq 2 is there already: admitted with no windows
        adm = Admitter(SITE, {"gw1": KEY}, Policy(), {}, Clock(wall=lambda: NOW))
        out = adm.process([Incoming(topic("gw1", "telemetry"), telemetry("gw1", s, NOW, KEY),
                                    s, 1, NOW) for s in seqs], inbox)
        assert [a.seq for a in out.accepted] == [s for s in seqs if s != 2]
    db = sqlite3.connect(inbox.path)
    seq_of = dict(db.execute("SELECT id, seq FROM inbox"))
    ids = b"".join(r[0] for r in db.execute("SELECT msg_ids FROM pending_runs ORDER BY id"))
    named = [seq_of[m] for m in struct.unpack(f">{len(ids) // 8}q", ids)]  # 8 bytes each
    db.close()
    assert named == [2, 1, 3, 4, 5, 6]
    inbox.close()


def test_commits_leave_the_log_to_the_checkpoint_which_does_not_block_a_writer(tmp_path):
    """A commit appends to the write-ahead log and never copies it back (below the safety
    net); ``checkpoint`` copies it on a connection of its own, also while a write is open,
    and what was written reads back from the database file alone."""
    from edge.runtime.inbox.db import AUTOCHECKPOINT_PAGES

    inbox = Inbox(tmp_path / "inbox.db")
    db = inbox.db
    blob = bytes(range(256)) * 4096  # 1 MiB: 256 pages or more per round
    for r in range(6):  # 6 MiB: SQLite's default of 1,000 pages would have checkpointed
        inbox.market.record_round(900 * (r + 1), 0, True, {"round": r}, [], NOW)
        inbox.market.store_block(900 * (r + 1), 0, blob)
    log, done = db.checkpoint()
    assert 6 * 256 <= log < AUTOCHECKPOINT_PAGES and done == log  # nothing copied before
    with db.write() as c:  # a writer holds the write lock: the checkpoint goes on
        c.execute("INSERT INTO meta (k, v) VALUES ('x', '1')")
        assert db.checkpoint()[1] >= 0
    log, done = db.checkpoint()
    assert done == log  # all copied now, the open write's page included
    inbox.close()
    ro = sqlite3.connect(tmp_path / "inbox.db")
    assert ro.execute("SELECT COUNT(*), MIN(length(block)) FROM result_fills").fetchone() == (
        6, len(blob))
    ro.close()


def test_a_write_without_its_own_sync_leaves_every_other_write_synced(tmp_path):
    """``write(durable=False)`` commits one transaction at synchronous=NORMAL and puts FULL
    back, also when the transaction fails; nested in a durable write it is that write."""
    inbox = Inbox(tmp_path / "inbox.db")
    db = inbox.db

    def sync_level() -> int:
        return db.conn.execute("PRAGMA synchronous").fetchone()[0]

    assert sync_level() == 2  # FULL
    with db.write(durable=False) as c:
        assert sync_level() == 1  # NORMAL, for this transaction only
        c.execute("INSERT INTO meta (k, v) VALUES ('a', '1')")
    assert sync_level() == 2 and db.meta("a") == "1"
    with pytest.raises(sqlite3.IntegrityError), db.write(durable=False) as c:
        c.execute("INSERT INTO meta (k, v) VALUES ('a', '2')")  # taken: rolled back
    assert sync_level() == 2 and db.meta("a") == "1"
    with db.write() as c, db.write(durable=False):
        assert sync_level() == 2  # joined the durable write
        c.execute("INSERT INTO meta (k, v) VALUES ('b', '1')")
    assert db.meta("b") == "1"
    inbox.close()
