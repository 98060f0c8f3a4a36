"""Oracles as their own processes: the peg's sides ask them over real HTTP.

Five `carbon-edge carbon-market oracle-serve` processes on loopback: four are
the sides' configured oracles (three read the real carbon chain, one reads a
fork of it signed with the same producer key), the fifth has a key no side
knows. The electricity side asks all five (hub.carbonmarket.oracleclient)
before it mints against a carbon lock: 3 of 4 configured signatures is
75 % > 51 %, the mint goes through; the fork-reader's answer is refused as
``oracle_minority`` and the stranger's as ``oracle_unsigned``, each counted.
With two honest oracles stopped, 1 of 4 agree: ``oracle_no_quorum``, nothing
minted, the silent ones counted as unreachable. An oracle refuses a request
not signed by a known requester (400, counted in its own status).
"""

from __future__ import annotations

import httpx
import pytest

from edge.chain.keys import generate_key, public_id
from hub.carbonmarket.errors import Reason, Refused
from hub.carbonmarket.oracle import make_request
from hub.carbonmarket.oracleclient import HttpOracles
from hub.carbonmarket.peg import CarbonSide, ElectricitySide
from hub.carbonmarket.twotree import CARBON, ELECTRICITY, TwoTreeChain, tx_proof

C_ID, E_ID = "carbon", "electricity"


def lock_submission(c: CarbonSide, e: ElectricitySide, transfer: str, amount: int) -> dict:
    c.lock(transfer, "buyer", "seller", amount, now_ms=1)
    height = c.chain.store.height()
    block = c.chain.store.get(height)
    pos = next(i for i, tx in enumerate(block.tx_objects()) if tx.get("transfer") == transfer)
    return {"headers": c.chain.headers(e.light.height + 1, height),
            "proof": tx_proof(c.chain.layout, block, pos)}


@pytest.mark.timeout(120)
def test_sides_vote_over_http_and_refuse_minority_unsigned_and_no_quorum(tmp_path,
                                                                        oracle_factory):
    c_key, e_key = generate_key(), generate_key()
    requesters = {C_ID: public_id(c_key.public_key()), E_ID: public_id(e_key.public_key())}
    # a fork of the carbon chain: the same producer key, another block 0
    fork = TwoTreeChain(tmp_path / "fork.db", CARBON, C_ID, c_key)
    fork.append([{"kind": "lock", "transfer": "t-fork", "payer": "b", "payee": "s",
                  "amount_micro": 10**9}], 1)
    fork.close()
    c = CarbonSide(tmp_path / "c.db", C_ID, c_key, E_ID, requesters[E_ID], [], lambda r: [])
    real = {C_ID: tmp_path / "c.db", E_ID: tmp_path / "e.db"}
    TwoTreeChain(real[E_ID], ELECTRICITY, E_ID, e_key).close()  # the store exists before serving
    honest = [oracle_factory(tmp_path / f"o{i}", requesters, real) for i in range(3)]
    forked = oracle_factory(tmp_path / "o3", requesters, {**real, C_ID: tmp_path / "fork.db"})
    stranger = oracle_factory(tmp_path / "o4", requesters, real)
    configured = [o.id for o in honest] + [forked.id]
    ask = HttpOracles([o.url for o in [*honest, forked, stranger]])
    e = ElectricitySide(real[E_ID], E_ID, e_key, C_ID, requesters[C_ID], configured, ask)
    try:
        e.mint(lock_submission(c, e, "t1", 9_000), now_ms=2)
        assert e.outstanding("t1") == 9_000
        assert e.refusals[Reason.ORACLE_MINORITY] == 1
        assert e.refusals[Reason.ORACLE_UNSIGNED] == 1
        assert all(o.status()["answered"] == 1 for o in [*honest, forked, stranger])

        # two honest oracles go down: one honest vote of four is no quorum
        honest[1].stop()
        honest[2].stop()
        sub = lock_submission(c, e, "t2", 500)
        with pytest.raises(Refused) as exc:
            e.mint(sub, now_ms=3)
        assert exc.value.reason is Reason.ORACLE_NO_QUORUM and "t2" not in e.minted
        assert e.refusals[Reason.ORACLE_NO_QUORUM] == 1
        assert ask.failures["unreachable"] == 2
        # back up: the same proof now passes (nothing was consumed by the refusal)
        honest[1].start()
        honest[2].start()
        e.mint(sub, now_ms=4)
        assert e.outstanding("t2") == 500
    finally:
        c.close()
        e.close()

    # a request signed by a key that is not the requester's: refused and counted
    bad = make_request(generate_key(), E_ID, C_ID, 7, 0)
    r = httpx.post(honest[0].url + "/v1/answer", json=bad, timeout=10)
    assert r.status_code == 400 and r.json()["error"] == "bad_request"
    r = httpx.post(honest[0].url + "/v1/answer", content=b"not json", timeout=10)
    assert r.status_code == 400
    r = httpx.post(honest[0].url + "/v1/answer", content=b'{"by": 1, "by": 2}', timeout=10)
    assert r.status_code == 400 and "duplicate key 'by'" in r.json()["detail"]
    # too long: declared, and streamed without a length (the oracle stops reading at 16 KiB)
    r = httpx.post(honest[0].url + "/v1/answer", content=b" " * 16_385, timeout=10)
    assert r.status_code == 400 and "at most 16384 bytes" in r.json()["detail"]
    r = httpx.post(honest[0].url + "/v1/answer", content=(b" " * 8192 for _ in range(64)),
                   timeout=10)
    assert r.status_code == 400 and "at most 16384 bytes" in r.json()["detail"]
    assert honest[0].status()["refused"] == {"bad_request": 5}
