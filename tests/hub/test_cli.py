"""`carbon-edge hub ...` as an operator runs it (real processes, SQLite and PostgreSQL)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from edge.chain.keys import generate_key, public_id, save_private_key
from edge.clock import SYSTEM
from hub.service import ingest
from tests.kit.hub import REPO, EdgeChain, block_json

now = SYSTEM.wall_ms


def hub(*args, cwd):
    return subprocess.run([sys.executable, "-m", "edge.cli", "hub", *args], cwd=cwd,
                          capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(REPO)})


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request, tmp_path):
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'hub.db'}"
    return request.getfixturevalue("hub_pg_url")


def test_registry_main_block_and_receipt_from_the_command_line(db_url, tmp_path):
    r = hub("migrate", "--db", db_url, "--json", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["revision"] == "0002"
    chain = EdgeChain()
    name = f"edge-{chain.edge_id[:8]}"
    r = hub("register-edge", "--db", db_url, "--name", name, "--pubkey", chain.edge_id,
            "--site", "site-a", "--json", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["status"] == "active"
    r = hub("register-edge", "--db", db_url, "--name", name, "--pubkey", chain.edge_id,
            cwd=tmp_path)
    assert r.returncode == 2 and "already registered" in r.stderr
    r = hub("register-edge", "--db", db_url, "--name", "x", "--pubkey", "zz", cwd=tmp_path)
    assert r.returncode == 2 and "64 hex" in r.stderr

    from hub.service.db import Database

    db = Database(db_url)
    chain.extend(2)
    ingest.ingest_batch(db, chain.edge_id, [block_json(b) for b in chain.blocks], now_ms=now())
    db.close()
    hub_key = generate_key()
    save_private_key(hub_key, tmp_path / "hub.pem")
    r = hub("make-main-block", "--db", db_url, "--hub-key", "hub.pem", "--json", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    made = json.loads(r.stdout)
    assert made["created"] and {"edge": chain.edge_id, "height": 1,
                                "hash": chain.blocks[1].header.hash()} in made["entries"]

    from hub.service.receipts import receipts_for

    db = Database(db_url)
    receipt = receipts_for(db, chain.edge_id)[0]
    db.close()
    (tmp_path / "r.json").write_text(json.dumps({"receipts": [receipt]}))
    hub_id = public_id(hub_key.public_key())
    r = hub("check-receipt", "--file", "r.json", "--hub", hub_id, "--edge", chain.edge_id,
            "--json", cwd=tmp_path)
    assert r.returncode == 0 and json.loads(r.stdout)["ok"] is True
    r = hub("check-receipt", "--file", "r.json", "--hub", hub_id, "--edge", "ab" * 32,
            cwd=tmp_path)
    assert r.returncode == 1 and "another edge" in r.stdout

    r = hub("revoke-edge", "--db", db_url, "--edge", name, "--json", cwd=tmp_path)
    assert r.returncode == 0 and json.loads(r.stdout)["status"] == "revoked"
    r = hub("list-edges", "--db", db_url, "--json", cwd=tmp_path)
    listed = {e["edge_id"]: e["status"] for e in json.loads(r.stdout)["edges"]}
    assert listed[chain.edge_id] == "revoked"
    r = hub("revoke-edge", "--db", db_url, "--edge", "nobody", cwd=tmp_path)
    assert r.returncode == 2 and "no edge" in r.stderr


def test_publish_prices_allocates_and_signs_in_one_command(tmp_path):
    from edge.protocol.auth import check_signature
    from hub.allocation.api import PricesRequest, price_ladder
    from hub.allocation.schema import parse_game

    db_url = f"sqlite:///{tmp_path / 'hub.db'}"
    key = generate_key()
    save_private_key(key, tmp_path / "hub.pem")
    game = json.loads((REPO / "docs/examples/owen/market.json").read_text())
    (tmp_path / "g.json").write_text(json.dumps(game))
    args = ["publish-prices", "--db", db_url, "--hub-key", "hub.pem", "--game", "g.json",
            "--site", "site-a", "--valid-from", "3600", "--valid-to", "7200", "--intensity",
            "410", "--p-high", "41", "--json"]
    r = hub(*args, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    signal = json.loads(r.stdout)
    check_signature(signal, signer=public_id(key.public_key()))
    _, _, lad, _ = price_ladder(PricesRequest(game=parse_game(game), p_high=41))
    assert (signal["p_low"], signal["p_high"]) == (20, 41)
    assert signal["adders"] == {row.entity.id: row.adder for row in lad.rows}
    (tmp_path / "g.json").write_text(json.dumps({"kind": "market", "generators": "nope"}))
    r = hub(*args, cwd=tmp_path)
    assert r.returncode == 2 and "generators" in r.stderr
    (tmp_path / "g.json").write_text("{not json")
    assert hub(*args, cwd=tmp_path).returncode == 2


def test_bad_inputs_exit_2_with_one_sentence(tmp_path):
    r = hub("list-edges", "--db", "mysql://x/y", cwd=tmp_path)
    assert r.returncode == 2 and "unsupported database" in r.stderr
    r = hub("check-receipt", "--file", "missing.json", "--hub", "00" * 32, cwd=tmp_path)
    assert r.returncode == 2
    (tmp_path / "r.json").write_text("[1, 2]")
    r = hub("check-receipt", "--file", "r.json", "--hub", "00" * 32, cwd=tmp_path)
    assert r.returncode == 2 and "no receipt object" in r.stderr
    (tmp_path / "r.json").write_text(json.dumps({"header": {}, "tx": {}, "proof": []}))
    r = hub("check-receipt", "--file", "r.json", "--hub", "00" * 32, "--json", cwd=tmp_path)
    assert r.returncode == 1 and json.loads(r.stdout)["ok"] is False
    (tmp_path / "open.pem").write_text("x")
    os.chmod(tmp_path / "open.pem", 0o644)
    r = hub("make-main-block", "--db", f"sqlite:///{tmp_path / 'h.db'}", "--hub-key",
            "open.pem", cwd=tmp_path)
    assert r.returncode == 2 and "readable by others" in r.stderr
