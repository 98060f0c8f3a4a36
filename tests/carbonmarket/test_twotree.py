"""Two-subtree blocks: roots and proofs against hashlib by hand, a clearing cycle on C, verify."""

from __future__ import annotations

import hashlib
import json
import sqlite3

import pytest

from edge.chain.block import GENESIS_PREV
from edge.chain.keys import generate_key, public_id
from edge.chain.packed import pack, unpack_all
from edge.protocol.canonical import canonical
from hub.carbonmarket.clearing import Participant, clear_bilateral
from hub.carbonmarket.quota import accounting_entry
from hub.carbonmarket.twotree import (
    CARBON,
    ELECTRICITY,
    TwoTreeChain,
    check_tx_proof,
    make_block,
    tx_proof,
)


def H(b: bytes) -> bytes:  # noqa: N802
    return hashlib.sha256(b).digest()


def leaf(tx) -> bytes:
    return H(b"\x00" + canonical(tx))


def node(a: bytes, b: bytes) -> bytes:
    return H(b"\x01" + a + b)


EDGE_TXS = [
    {"type": "telemetry_digest", "gw": "g1", "seq": 1, "ts": 5, "sha256": "00" * 32},
    {"kind": "peg_mint", "transfer": "t1", "to": "pvp-6", "amount_micro": 5},
    {"type": "bid", "gw": "g2", "seq": 4},
    {"kind": "peg_spend", "transfer": "t1", "amount_micro": 2, "bill": "b"},
    {"kind": "certificate", "serial": "s-1", "holder": "g1", "interval": 0, "wh": 1_000_000},
]


def test_electricity_layout_over_an_edge_blocks_tx_list_by_hand():
    leaves = [canonical(t) for t in EDGE_TXS]
    pv_root, xc_root = ELECTRICITY.roots(leaves)
    # pv: digest, bid, certificate (3 leaves: RFC 6962 splits 2 + 1)
    assert pv_root == node(node(leaf(EDGE_TXS[0]), leaf(EDGE_TXS[2])), leaf(EDGE_TXS[4]))
    assert xc_root == node(leaf(EDGE_TXS[1]), leaf(EDGE_TXS[3]))
    assert ELECTRICITY.root(leaves) == node(pv_root, xc_root)
    # an empty subtree has the root of the empty tree
    assert CARBON.roots([canonical({"kind": "lock"})])[0] == H(b"")


def test_every_proof_of_a_block_checks_and_a_changed_tx_does_not():
    key = generate_key()
    block = make_block(layout=ELECTRICITY, chain="e", height=0, prev=GENESIS_PREV, txs=EDGE_TXS,
                       ts=1, key=key)
    assert block.header.root == node(*ELECTRICITY.roots(block.txs)).hex()
    assert block.header.signature_ok() and block.header.producer == public_id(key.public_key())
    for i in range(len(EDGE_TXS)):
        doc = tx_proof(ELECTRICITY, block, i)
        assert doc["subtree"] == ("xc" if "kind" in EDGE_TXS[i] and
                                  EDGE_TXS[i]["kind"].startswith("peg") else "pv")
        assert check_tx_proof(ELECTRICITY, block.header, doc) is None
        forged = json.loads(json.dumps(doc))
        forged["tx"]["seq" if "seq" in forged["tx"] else "amount_micro"] = 999
        assert "does not lead" in check_tx_proof(ELECTRICITY, block.header, forged)
    moved = tx_proof(ELECTRICITY, block, 1) | {"subtree": "pv"}
    assert "does not belong" in check_tx_proof(ELECTRICITY, block.header, moved)


def test_a_clearing_cycle_is_one_carbon_block_accounting_left_trades_right(tmp_path):
    key = generate_key()
    chain = TwoTreeChain(tmp_path / "c.db", CARBON, "carbon", key)
    clearing = clear_bilateral([Participant("cec-5", "cec", -300, 80_000, 1),
                                Participant("pvp-6", "pvp", 500, 50_000, 2)])
    entries = [accounting_entry("pvp-6", "pvp", 0, 10, 520, 500, {"delta_g_per_kwh": 820}),
               accounting_entry("cec-5", "cec", 0, 10, -280, -300, {"emissions_g": 1_300})]
    txs = [*entries, *(t.as_tx(1, n) for n, t in enumerate(clearing.trades))]
    block = chain.append(txs, ts=10)
    eoc = [canonical(t) for t in entries]
    toc = [canonical(clearing.trades[0].as_tx(1, 0))]
    assert block.header.root == node(node(H(b"\x00" + eoc[0]), H(b"\x00" + eoc[1])),
                                     H(b"\x00" + toc[0])).hex()
    trade = tx_proof(CARBON, block, 2)
    assert trade["subtree"] == "toc" and trade["tx"]["price"] == 65_000
    assert check_tx_proof(CARBON, block.header, trade) is None
    assert chain.verify([public_id(key.public_key())]).ok
    chain.close()
    db = sqlite3.connect(tmp_path / "c.db")
    (blob,) = db.execute("SELECT data FROM block_txs WHERE height = 0").fetchone()
    db.execute("UPDATE block_txs SET data = ? WHERE height = 0",
               (pack([canonical({**entries[0], "verified_g": 5_000}), *unpack_all(blob)[1:]]),))
    db.commit()
    db.close()
    chain = TwoTreeChain(tmp_path / "c.db", CARBON, "carbon")
    report = chain.verify()
    assert not report.ok and report.bad_height == 0 and "Merkle root" in report.reason
    with pytest.raises(RuntimeError, match="read-only"):
        chain.append([], ts=11)
    chain.close()
