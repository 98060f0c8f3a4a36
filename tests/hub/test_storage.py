"""The hub's storage and rules, on SQLite and on PostgreSQL (library level, real databases)."""

from __future__ import annotations

import json
import threading
import time

import pytest
from sqlalchemy import func, select

from edge.chain.keys import generate_key, public_id
from edge.clock import SYSTEM
from edge.sync.receipts import check_anchored_tx, check_receipt
from hub.service import alarms, ingest, mainchain, prices, receipts, registry
from hub.service.db import current_revision, migrate
from hub.service.errors import AuthError, BadBlock, Conflict, ForbiddenError, RegistryError
from hub.service.models import EdgeTx
from tests.kit.hub import EdgeChain, block_json

now = SYSTEM.wall_ms


def registered(db, chain: EdgeChain) -> str:
    registry.register_edge(db, f"e-{chain.edge_id[:10]}", chain.edge_id, "site-a", now_ms=now())
    return chain.edge_id


def as_json(blocks):
    return [block_json(b) for b in blocks]


def test_schema_is_migrated_and_migrating_again_is_a_no_op(hub_db):
    assert current_revision(hub_db.engine) == "0002"
    migrate(hub_db.engine)
    assert current_revision(hub_db.engine) == "0002"


def test_ingest_stores_verified_blocks_and_retries_are_duplicates(hub_db):
    chain = EdgeChain()
    edge = registered(hub_db, chain)
    chain.extend(5, txs=4)
    res = ingest.ingest_batch(hub_db, edge, as_json(chain.blocks[:3]), now_ms=now())
    assert (res.accepted, res.duplicates, res.head.height) == (3, 0, 2)
    assert res.head.hash == chain.blocks[2].header.hash()
    res = ingest.ingest_batch(hub_db, edge, as_json(chain.blocks[1:5]), now_ms=now())
    assert (res.accepted, res.duplicates, res.head.height) == (2, 2, 4)
    res = ingest.ingest_batch(hub_db, edge, as_json(chain.blocks), now_ms=now())
    assert (res.accepted, res.duplicates) == (0, 5)
    with hub_db.session() as s:
        assert s.scalar(select(func.count()).select_from(EdgeTx).where(
            EdgeTx.edge_id == edge)) == 20
    stored = receipts.edge_block(hub_db, edge, 3)
    assert stored["hash"] == chain.blocks[3].header.hash()
    assert stored["txs"] == chain.blocks[3].tx_objects()


def test_gap_is_refused_with_the_height(hub_db):
    chain = EdgeChain()
    edge = registered(hub_db, chain)
    chain.extend(4)
    ingest.ingest_batch(hub_db, edge, as_json(chain.blocks[:1]), now_ms=now())
    with pytest.raises(BadBlock) as exc:
        ingest.ingest_batch(hub_db, edge, as_json(chain.blocks[2:4]), now_ms=now())
    assert exc.value.status == 400 and exc.value.extra["height"] == 2
    assert "gap" in exc.value.extra["problem"]
    with pytest.raises(BadBlock) as exc:  # reordered inside one batch
        ingest.ingest_batch(hub_db, edge, as_json([chain.blocks[1], chain.blocks[3]]), now_ms=now())
    assert exc.value.extra["height"] == 3 and exc.value.extra["accepted"] == 1
    assert ingest.head_of(hub_db, edge).height == 1  # the good block before it was kept


@pytest.mark.parametrize("defect, words", [
    ("sig", "signature does not verify"),
    ("producer", "not an allowed producer"),
    ("root", "Merkle root"),
    ("link", "prev does not match"),
    ("ntx", "txs"),
    ("float", "float"),
])
def test_bad_blocks_are_refused_and_the_good_prefix_kept(hub_db, defect, words):
    chain = EdgeChain()
    edge = registered(hub_db, chain)
    chain.extend(3)
    docs = as_json(chain.blocks)
    bad = docs[2]
    if defect == "sig":
        bad["header"]["sig"] = ("00" if bad["header"]["sig"][:2] != "00" else "11") + \
            bad["header"]["sig"][2:]
    elif defect == "producer":  # a well-signed block by another key
        other = EdgeChain(key=generate_key(), blocks=list(chain.blocks[:2]), ts=chain.ts)
        docs[2] = bad = block_json(other.extend(1)[0])
    elif defect == "root":
        bad["txs"][0]["energy_wh"] += 1
    elif defect == "link":
        bad["header"]["prev"] = "ab" * 32
    elif defect == "ntx":
        bad["txs"].append({"kind": "extra"})
    elif defect == "float":
        bad["txs"][0]["energy_wh"] = 1.5
    with pytest.raises(BadBlock) as exc:
        ingest.ingest_batch(hub_db, edge, docs, now_ms=now())
    assert exc.value.extra["height"] == 2 and exc.value.extra["accepted"] == 2
    assert words in exc.value.extra["problem"], exc.value.extra["problem"]
    assert ingest.head_of(hub_db, edge).height == 1


def test_equivocation_is_refused_and_alarmed_once(hub_db):
    chain = EdgeChain()
    edge = registered(hub_db, chain)
    chain.extend(3)
    ingest.ingest_batch(hub_db, edge, as_json(chain.blocks), now_ms=now())
    evil = chain.other_at(1)
    for _ in range(2):  # a retried offence is one alarm
        with pytest.raises(Conflict) as exc:
            ingest.ingest_batch(hub_db, edge, [block_json(evil)], now_ms=now())
        assert exc.value.reason == "equivocation" and exc.value.status == 409
        assert exc.value.extra["height"] == 1
    found = alarms.list_alarms(hub_db, edge)
    assert len(found) == 1
    a = found[0]
    assert (a.kind, a.height, a.offered_hash) == ("equivocation", 1, evil.header.hash())
    assert a.stored_hash == chain.blocks[1].header.hash()
    assert a.evidence == json.loads(evil.header.to_bytes())
    assert ingest.head_of(hub_db, edge).hash == chain.blocks[2].header.hash()


def test_fork_is_told_from_equivocation(hub_db):
    chain = EdgeChain()
    edge = registered(hub_db, chain)
    chain.extend(3)
    ingest.ingest_batch(hub_db, edge, as_json(chain.blocks), now_ms=now())
    fork = chain.other_at(2, prev="cd" * 32)  # signed, but on another history
    with pytest.raises(Conflict) as exc:
        ingest.ingest_batch(hub_db, edge, [block_json(fork)], now_ms=now())
    assert exc.value.reason == "fork"
    assert [a.kind for a in alarms.list_alarms(hub_db, edge)] == ["fork"]


def test_a_forged_different_block_at_a_stored_height_is_bad_not_an_alarm(hub_db):
    chain = EdgeChain()
    edge = registered(hub_db, chain)
    chain.extend(2)
    ingest.ingest_batch(hub_db, edge, as_json(chain.blocks), now_ms=now())
    forged = chain.other_at(1, key=generate_key())
    with pytest.raises(BadBlock):
        ingest.ingest_batch(hub_db, edge, [block_json(forged)], now_ms=now())
    assert alarms.list_alarms(hub_db, edge) == []


def test_concurrent_ingest_of_one_batch_stores_it_once(hub_db):
    chain = EdgeChain()
    edge = registered(hub_db, chain)
    chain.extend(6, txs=20)
    docs = as_json(chain.blocks)
    results, errors = [], []

    def worker():
        try:
            results.append(ingest.ingest_batch(hub_db, edge, docs, now_ms=now()))
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert sum(r.accepted for r in results) == 6
    assert all(r.accepted + r.duplicates == 6 for r in results)
    with hub_db.session() as s:
        assert s.scalar(select(func.count()).select_from(EdgeTx).where(
            EdgeTx.edge_id == edge)) == 120


def test_main_block_anchors_moved_heads_and_receipts_verify(hub_db):
    hub_key = generate_key()
    hub_id = public_id(hub_key.public_key())
    a, b = EdgeChain(), EdgeChain()
    for c in (a, b):
        registered(hub_db, c)
        c.extend(3)
        ingest.ingest_batch(hub_db, c.edge_id, as_json(c.blocks), now_ms=now())
    made = mainchain.make_main_block(hub_db, hub_key, now_ms=now())
    assert made is not None and made.header.chain == "main"
    mine = [e for e in made.entries if e["edge"] in (a.edge_id, b.edge_id)]
    assert sorted(mine, key=lambda e: e["edge"]) == mine
    assert {e["edge"]: e["height"] for e in mine} == {a.edge_id: 2, b.edge_id: 2}
    assert mainchain.make_main_block(hub_db, hub_key, now_ms=now()) is None  # nothing moved
    a.extend(2)
    ingest.ingest_batch(hub_db, a.edge_id, as_json(a.blocks[3:]), now_ms=now())
    second = mainchain.make_main_block(hub_db, hub_key, now_ms=now())
    assert second.header.prev == made.header.hash()
    assert [e["edge"] for e in second.entries] == [a.edge_id]
    rs = receipts.receipts_for(hub_db, a.edge_id, after=-1)
    assert [r["tx"]["height"] for r in rs] == [2, 4]
    for r in rs:
        want = a.blocks[r["tx"]["height"]].header.hash()
        assert check_receipt(r, hub_id, a.edge_id, want) == []
    assert receipts.receipts_for(hub_db, a.edge_id, after=second.header.height) == []
    tampered = json.loads(json.dumps(rs[0]))
    tampered["tx"]["height"] += 1
    assert "inclusion proof does not lead to the header's root" in check_receipt(tampered, hub_id)
    assert "header is not produced by the pinned hub key" in check_receipt(
        rs[0], public_id(generate_key().public_key()))


def test_tx_proof_reaches_the_anchor_through_the_link(hub_db):
    hub_key = generate_key()
    hub_id = public_id(hub_key.public_key())
    chain = EdgeChain()
    edge = registered(hub_db, chain)
    chain.extend(4, txs=5)
    ingest.ingest_batch(hub_db, edge, as_json(chain.blocks), now_ms=now())
    before = receipts.tx_proof(hub_db, edge, 1, 3)
    assert before["anchor"] is None
    assert check_anchored_tx(before, hub_id)[-1].startswith("no anchor")
    mainchain.make_main_block(hub_db, hub_key, now_ms=now())
    doc = receipts.tx_proof(hub_db, edge, 1, 3)
    assert [h["height"] for h in doc["anchor"]["link"]] == [2, 3]
    assert doc["tx"] == chain.blocks[1].tx_objects()[3]
    assert check_anchored_tx(doc, hub_id, edge) == []
    broken = json.loads(json.dumps(doc))
    broken["anchor"]["link"].pop(0)
    assert any("link breaks" in p for p in check_anchored_tx(broken, hub_id))
    lied = json.loads(json.dumps(doc))
    lied["tx"]["energy_wh"] = 1
    assert any("inclusion proof" in p for p in check_anchored_tx(lied, hub_id))


def test_concurrent_main_blocks_never_share_a_height(hub_db):
    hub_key = generate_key()
    chain = EdgeChain()
    registered(hub_db, chain)
    chain.extend(1)
    ingest.ingest_batch(hub_db, chain.edge_id, as_json(chain.blocks), now_ms=now())
    made = []
    threads = [threading.Thread(target=lambda: made.append(
        mainchain.make_main_block(hub_db, hub_key, now_ms=now()))) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    blocks = [m for m in made if m is not None]
    assert len(blocks) >= 1
    anchored = [m for m in blocks if any(e["edge"] == chain.edge_id for e in m.entries)]
    assert len(anchored) == 1  # the edge head is anchored once, whoever won


def test_registry_rules(hub_db):
    key_id = public_id(generate_key().public_key())
    info = registry.register_edge(hub_db, f"n-{key_id[:8]}", key_id.upper(), "site-a", now_ms=now())
    assert info.edge_id == key_id and info.status == "active"
    with pytest.raises(RegistryError, match="already registered"):
        registry.register_edge(hub_db, "other-name", key_id, now_ms=now())
    with pytest.raises(RegistryError, match="taken"):
        registry.register_edge(hub_db, info.name, public_id(generate_key().public_key()),
                               now_ms=now())
    with pytest.raises(RegistryError, match="64 hex"):
        registry.register_edge(hub_db, "x", "abc", now_ms=now())
    with pytest.raises(RegistryError, match="name"):
        registry.register_edge(hub_db, "bad name!", public_id(generate_key().public_key()),
                               now_ms=now())
    with pytest.raises(RegistryError, match="site"):
        registry.register_edge(hub_db, "y", public_id(generate_key().public_key()), "s p",
                               now_ms=now())
    assert registry.active_edge(hub_db, key_id).name == info.name
    revoked = registry.revoke_edge(hub_db, info.name, now_ms=now())
    assert revoked.status == "revoked" and revoked.revoked_ms is not None
    with pytest.raises(ForbiddenError) as exc:
        registry.active_edge(hub_db, key_id)
    assert exc.value.reason == "revoked"
    with pytest.raises(RegistryError, match="already revoked"):
        registry.register_edge(hub_db, "again", key_id, now_ms=now())
    with pytest.raises(AuthError) as exc:
        registry.active_edge(hub_db, public_id(generate_key().public_key()))
    assert exc.value.reason == "unknown_edge"


def test_price_signals_are_signed_ordered_and_bumped(hub_db):
    from edge.protocol.auth import check_signature

    key = generate_key()
    site = f"s{time.time_ns() % 10**9}"
    fields = {"v": 1, "type": "price", "site": site, "valid_from": 3600, "valid_to": 7200,
              "p_low": 20, "p_high": 40, "intensity_g_kwh": 400, "adders": {"coal-A": 31250}}
    first = prices.publish(hub_db, key, fields, now_ms=1_000)
    second = prices.publish(hub_db, key, fields, now_ms=1_000)  # same clock: bumped by 1 ms
    assert (first["ts"], second["ts"]) == (1_000, 1_001)
    check_signature(second, signer=public_id(key.public_key()))
    assert [s["ts"] for s in prices.signals_for(hub_db, site)] == [1_000, 1_001]
    assert [s["ts"] for s in prices.signals_for(hub_db, site, after=1_000)] == [1_001]
    with pytest.raises(prices.PriceInputError, match="valid_to"):
        prices.publish(hub_db, key, {**fields, "valid_to": 3600}, now_ms=now())
    with pytest.raises(prices.PriceInputError, match="adders"):
        prices.publish(hub_db, key, {**fields, "adders": {"coal-A": -5}}, now_ms=now())
