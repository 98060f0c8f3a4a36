"""Sealed bids through the edge's real admission, inbox, market and pending chain (no MQTT).

Each gateway seals its quote to the key the edge announced (read from the
published announcement and checked with the edge's public key, as a gateway
does); the edge must keep every price and quantity unreadable until the gate
(the chain gets commitments, the inbox ciphertext, the retained topics keys),
then open, clear and publish openings a verifier can redo with the released
private key. The expected clearing is `clear_uniform` over the quotes this
test sealed (an independent reference, not the service's own book). Every
refusal of a sealed site is a crafted message with its reason and counter.
"""

from __future__ import annotations

import itertools
import json
import sqlite3

import pytest

from edge.chain.keys import generate_key, public_id
from edge.clock import Clock
from edge.market import sealed
from edge.market.clearing import Order, clear_uniform
from edge.pl.dispatch import Dispatcher
from edge.protocol.auth import add_tag, check_signature
from edge.protocol.canonical import canonical
from edge.runtime.admission import Policy
from edge.runtime.inbox import Inbox
from edge.runtime.ingest import Admitter, Incoming
from edge.runtime.intervals import Schedule
from edge.runtime.market_service import MarketService
from edge.runtime.organiser import Organiser, derive_key, organiser_seed
from tests.edge.helpers import SITE, bid, topic
from tests.kit.edge import header_of, result_of

KEYS = {f"gw{i}": bytes([i]) * 32 for i in range(1, 6)}
T = 1_700_000_100 - 1_700_000_100 % 900 + 900  # an interval start
S = Schedule(interval_s=900, gate_s=60, round_s=10, max_rounds=3)


def sealed_msg(gw, seq, ts, interval, side, blob: bytes, kid, rnd=0) -> bytes:
    body = {"v": 1, "type": "bid", "site": SITE, "gw": gw, "seq": seq, "ts": ts,
            "interval": interval, "side": side, "sealed": blob.hex(), "kid": kid, "round": rnd}
    return canonical(add_tag(body, KEYS[gw]))


class SealedRig:
    """Admitter + inbox + a sealed market with a settable clock; what it publishes, kept."""

    def __init__(self, path, key):
        self.now_s = T - 600.0
        self.inbox = Inbox(path)
        self.key = key
        self.edge_id = public_id(key.public_key())
        self.sent: list[tuple[str, dict, bool]] = []
        self.organiser = Organiser(SITE, key, S, self.inbox, self._pub)
        self.market = MarketService(SITE, S, self.inbox, key, Dispatcher("cpu"), self._pub, 300,
                                    organiser=self.organiser)
        self.adm = Admitter(SITE, KEYS, Policy(), self.inbox.messages.windows(),
                            Clock(wall=lambda: int(self.now_s * 1000)), self.market.refusal)
        self.seq = {g: itertools.count(1) for g in KEYS}
        self.market.recover(self.now_s)

    def _pub(self, t, payload, retain):
        if t.endswith("/result"):  # every result valid against the protocol, in full
            msg = result_of(payload)
        else:
            msg = json.loads(payload)
        self.sent.append((t, msg, retain))

    def announced(self, interval, rnd) -> bytes:
        """The organiser key of (interval, rnd) as a gateway learns it: from the newest
        announcement on the retained key topic, checked with the edge's public key."""
        msgs = [m for t, m, _ in self.sent if t == f"site/{SITE}/market/{interval}/key"
                and m["round"] == rnd]
        iv, r, pub = sealed.check_announcement(msgs[-1], self.edge_id)
        assert (iv, r) == (interval, rnd)
        return pub

    def deliver(self, gw, payload: bytes):
        out = self.adm.process([Incoming(topic(gw, "bid"), payload, 1, 1, 0)], self.inbox,
                               lambda acc: [self.market.accept(a.raw) for a in acc])
        return out.rejected[0][1].reason if out.rejected else None

    def send(self, gw, side, qty, price, rnd=0, interval=T, pub=None, kid=None):
        pub = pub if pub is not None else self.announced(interval, rnd)
        blob = sealed.seal(price, qty, pub, gw, interval, rnd)
        p = sealed_msg(gw, next(self.seq[gw]), int(self.now_s * 1000), interval, side, blob,
                       kid or sealed.key_id(pub), rnd)
        return self.deliver(gw, p)

    def tick(self, t):
        """The results published at ``t``, read from their frames (header and fills); each
        header is the one ``tick`` returned."""
        self.now_s = t
        n = len(self.sent)
        out = self.market.tick(t, int(t * 1000))
        sent = [m for tp, m, _ in self.sent[n:] if tp.endswith("/result")]
        assert [header_of(m) for m in sent] == out
        return sent

    def chain_txs(self):
        return [json.loads(p.tx) for p in self.inbox.pending.head(10_000)]


@pytest.fixture
def rig(tmp_path):
    r = SealedRig(tmp_path / "inbox.db", generate_key())
    r.tick(T - 600)  # announces round 0 of the intervals that take quotes
    yield r
    r.inbox.close()


QUOTES = {"gw1": ("sell", 1000, 80_000), "gw2": ("sell", 1000, 120_000),
          "gw3": ("buy", 1500, 150_000), "gw4": ("buy", 800, 70_000)}
SECRETS = {str(v) for q in QUOTES.values() for v in q[1:]} | {"130000", "800"}


def nothing_readable(rig) -> None:
    """No price or quantity of a quote anywhere before its round's gate: chain txs, inbox
    (every table, every byte), retained topics."""
    for tx in rig.chain_txs():
        assert tx["type"] in ("sealed_bid", "organiser_key"), tx
        assert "price" not in tx and "qty_wh" not in tx and "sealed" not in tx
    db = sqlite3.connect(rig.inbox.path)
    try:
        for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'"):
            for row in db.execute(f"SELECT * FROM {name}"):  # noqa: S608 - our own tables
                text = " ".join(v.decode("latin-1") if isinstance(v, bytes) else str(v)
                                for v in row)
                assert '"price"' not in text and '"qty_wh"' not in text, (name, text)
    finally:
        db.close()
    for _t, m, retain in rig.sent:
        assert retain and m["type"] == "organiser_key" and "private" not in m


def test_sealed_rounds_commit_before_the_gate_open_after_and_verify(rig):
    # round 0's key of T (and the next intervals up to the horizon) announced and on the chain
    ann = [tx for tx in rig.chain_txs() if tx["type"] == "organiser_key"]
    assert [(a["interval"], a["round"]) for a in ann] == [(T, 0), (T + 900, 0)]
    for a in ann:
        check_signature(a, rig.edge_id)
    for gw, (side, qty, price) in QUOTES.items():
        assert rig.send(gw, side, qty, price) is None
    assert rig.tick(T - 61) == []
    nothing_readable(rig)
    assert rig.market.open_book(T - 61) == []  # the organiser itself holds no quote yet
    commits = {tx["gw"]: tx["commitment"] for tx in rig.chain_txs() if tx["type"] == "sealed_bid"}
    assert sorted(commits) == sorted(QUOTES)

    [r0] = rig.tick(T - 60)  # gate closure: open, clear round 0
    orders = [Order(gw, s, q, p, i + 1) for i, (gw, (s, q, p)) in enumerate(QUOTES.items())]
    expect0 = clear_uniform(orders)
    assert (r0.get("price"), r0["volume_wh"]) == (expect0.price, expect0.volume_wh)
    check_signature(header_of(r0), rig.edge_id)
    op = r0["sealed"]
    assert op["round"] == 0 and op["refused"] == []
    # a verifier: each opening against the chain's commitment, with the released key
    for o in op["opened"]:
        sealed.verify_opening(bytes.fromhex(o["blob"]), commits[o["gw"]], o["price"],
                              o["qty_wh"], bytes.fromhex(op["private"]), o["gw"], T, 0)
        assert (o["price"], o["qty_wh"]) == (QUOTES[o["gw"]][2], QUOTES[o["gw"]][1])
    # the released private key is the announced public key's
    k = sealed.OrganiserKey.from_private_bytes(T, 0, bytes.fromhex(op["private"]))
    assert k.public == rig.announced(T, 0) and k.kid == op["kid"]

    # round 1: its own key, announced before round 0's result went out
    topics_in_order = [t for t, _m, _r in rig.sent]
    assert topics_in_order.index(f"site/{SITE}/market/{T}/result") > max(
        i for i, (t, m, _r) in enumerate(rig.sent) if t.endswith("/key") and m["round"] == 1)
    pub1 = rig.announced(T, 1)
    assert pub1 != rig.announced(T, 0)
    # a revision sealed to round 0's key is stale now
    assert rig.send("gw4", "buy", 800, 130_000, rnd=1, pub=rig.announced(T, 0)) == "stale_key"
    assert rig.send("gw4", "buy", 800, 130_000, rnd=1) is None
    commit1 = [tx for tx in rig.chain_txs() if tx["type"] == "sealed_bid" and tx["round"] == 1]
    assert len(commit1) == 1 and "price" not in commit1[0]
    [r1] = rig.tick(T - 50)
    orders1 = [o if o.id != "gw4" else Order("gw4", "buy", 800, 130_000, o.seq) for o in orders]
    expect1 = clear_uniform(orders1)
    assert (r1["round"], r1["price"], r1["volume_wh"]) == (1, expect1.price, expect1.volume_wh)
    [o1] = r1["sealed"]["opened"]
    sealed.verify_opening(bytes.fromhex(o1["blob"]), commit1[0]["commitment"], 130_000, 800,
                          bytes.fromhex(r1["sealed"]["private"]), "gw4", T, 1)
    [r2] = rig.tick(T - 40)  # nobody revised for round 2: round 1 binds
    assert r2["final"] and r2["round"] == 1 and r2["sealed"]["opened"] == []
    assert rig.inbox.counters()["sealed_opened"] == 5


def test_each_refusal_has_its_reason_and_counter(rig):
    k0 = rig.announced(T, 0)
    # a plain-text bid where the site requires sealed bids
    p = bid("gw1", next(rig.seq["gw1"]), int(rig.now_s * 1000), KEYS["gw1"], T, "sell", 1, 1)
    assert rig.deliver("gw1", p) == "plaintext_bid"
    # sealed to another interval's announced key: stale; to a key never announced: unknown
    assert rig.send("gw1", "sell", 1000, 80_000, pub=rig.announced(T + 900, 0)) == "stale_key"
    stranger = sealed.OrganiserKey.generate(T, 0).public
    assert rig.send("gw1", "sell", 1000, 80_000, pub=stranger) == "unknown_key"
    # accepted (the kid is right) but it cannot open: sealed as another gateway
    blob = sealed.seal(90_000, 500, k0, "gw5", T, 0)
    assert rig.deliver("gw2", sealed_msg("gw2", next(rig.seq["gw2"]), int(rig.now_s * 1000), T,
                                         "sell", blob, sealed.key_id(k0))) is None
    # accepted, then its blob in the inbox is not the committed one any more
    assert rig.send("gw3", "buy", 700, 150_000) is None
    assert rig.send("gw4", "buy", 600, 140_000) is None
    db = sqlite3.connect(rig.inbox.path)
    raw = json.loads(db.execute("SELECT raw FROM inbox WHERE gw = 'gw3'").fetchone()[0])
    raw["sealed"] = sealed.seal(1, 700, k0, "gw3", T, 0).hex()  # opens, but is another blob
    db.execute("UPDATE inbox SET raw = ? WHERE gw = 'gw3'", (canonical(raw),))
    db.commit()
    db.close()
    [r0] = rig.tick(T - 60)
    refused = {(r["gw"], r["reason"]) for r in r0["sealed"]["refused"]}
    assert refused == {("gw2", "does_not_open"), ("gw3", "hash_mismatch")}
    assert [(o["gw"], o["price"], o["qty_wh"]) for o in r0["sealed"]["opened"]] == [
        ("gw4", 140_000, 600)]
    assert [f["gw"] for f in r0["fills"]] == ["gw4"]  # the refused ones are not in the book
    c = rig.inbox.counters()
    for reason in ("plaintext_bid", "stale_key", "unknown_key", "does_not_open",
                   "hash_mismatch"):
        assert c[f"rejected:{reason}"] == 1, reason


def test_restart_between_gate_and_rounds_opens_the_same_way(tmp_path):
    key = generate_key()
    a = SealedRig(tmp_path / "inbox.db", key)
    a.tick(T - 600)
    for gw, (side, qty, price) in QUOTES.items():
        assert a.send(gw, side, qty, price) is None
    [r0] = a.tick(T - 60)
    assert a.send("gw4", "buy", 800, 130_000, rnd=1) is None
    a.inbox.close()  # "crash" after the sealed revision was persisted
    b = SealedRig(tmp_path / "inbox.db", key)
    # the keys are derived again, not stored: round 1's key is the one announced before
    assert b.announced(T, 1) == a.announced(T, 1)
    assert [m for t, m, _ in b.sent if t.endswith("/result")][0] == r0
    [r1] = b.tick(T - 50)
    assert r1["round"] == 1 and [o["gw"] for o in r1["sealed"]["opened"]] == ["gw4"]
    assert b.market.open_book(T - 50)[3]["price"] == 130_000
    b.inbox.close()


def test_organiser_keys_are_per_interval_and_round_and_independent():
    key = generate_key()
    seed = organiser_seed(key)
    ks = {(iv, r): derive_key(seed, SITE, iv, r) for iv in (T, T + 900) for r in range(3)}
    assert len({k.public for k in ks.values()}) == 6
    assert derive_key(seed, SITE, T, 0).public == ks[(T, 0)].public  # a restart finds it
    assert derive_key(organiser_seed(generate_key()), SITE, T, 0).public != ks[(T, 0)].public


def test_worker_processes_open_as_the_ticker_does(tmp_path):
    """open_many in worker processes (market.open_workers) gives the serial answers in order,
    refusals included: 300 bids of which every 7th is tampered and every 11th not committed."""
    key = generate_key()
    inbox = Inbox(tmp_path / "inbox.db")
    org = Organiser(SITE, key, S, inbox, lambda *_: None, workers=2)
    try:
        k = org.key(T, 0)
        items, expect = [], []
        for i in range(300):
            gw, price, qty = f"g{i}", 40_000 + i, 100 + i
            blob = sealed.seal(price, qty, k.public, gw, T, 0)
            committed = sealed.commitment(blob)
            if i % 7 == 0:  # a flipped tag bit: committed as sent, does not open
                blob = blob[:-1] + bytes([blob[-1] ^ 1])
                committed = sealed.commitment(blob)
                expect.append("does_not_open")
            elif i % 11 == 0:  # another blob than the committed one
                committed = sealed.commitment(bytes([blob[0] ^ 1]) + blob[1:])  # never blob
                expect.append("hash_mismatch")
            else:
                expect.append((price, qty))
            items.append((blob.hex(), committed, gw))
        assert org.open_many(items, k) == expect
    finally:
        org.close()
        inbox.close()
