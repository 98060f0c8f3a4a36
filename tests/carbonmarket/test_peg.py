"""The two-way peg: a whole transfer, then every refusal with its own reason and counter."""

from __future__ import annotations

import json

import pytest

from edge.chain.keys import generate_key
from hub.carbonmarket.errors import Reason, Refusals, Refused
from hub.carbonmarket.oracle import make_request, tally
from hub.carbonmarket.peg import balance
from hub.carbonmarket.twotree import tx_proof

from .pegkit import make_peg


@pytest.fixture
def peg(tmp_path):
    p = make_peg(tmp_path)
    yield p
    p.c.close()
    p.e.close()


def lock_submission(peg, transfer="t1", amount=9_000, all_headers=True):
    """Lock on C, and the submission the relayer would build for it."""
    peg.c.lock(transfer, "buyer", "seller", amount, now_ms=1)
    height = peg.c.chain.store.height()
    block = peg.c.chain.store.get(height)
    pos = next(i for i, tx in enumerate(block.tx_objects()) if tx.get("transfer") == transfer)
    start = peg.e.light.height + 1
    return {"headers": peg.c.chain.headers(start if all_headers else height, height),
            "proof": tx_proof(peg.c.chain.layout, block, pos)}


def burn_submission(peg, transfer, n):
    store = peg.e.chain.store
    for height in range(store.height(), -1, -1):
        block = store.get(height)
        for pos, tx in enumerate(block.tx_objects()):
            if tx.get("kind") == "peg_burn" and tx["transfer"] == transfer and tx["n"] == n:
                return {"headers": peg.e.chain.headers(peg.c.light.height + 1, store.height()),
                        "proof": tx_proof(peg.e.chain.layout, block, pos)}
    raise AssertionError("no such burn")


def test_transfer_lock_mint_spend_burn_unlock_keeps_the_books(peg):
    sub = lock_submission(peg, "t1", 9_000)
    assert balance(peg.c, peg.e).to_mint == 9_000
    peg.e.mint(sub, now_ms=2)
    assert peg.e.outstanding("t1") == 9_000 and peg.e.minted["t1"].to == "seller"
    peg.spend("t1", 2_500, "bill-2026-11", now_ms=3)
    n = peg.burn("t1", 6_500, now_ms=4)
    b = balance(peg.c, peg.e)
    assert (b.locked_c, b.released_c, b.outstanding_e, b.spent_e, b.to_release) == \
        (9_000, 0, 0, 2_500, 6_500)
    peg.c.unlock(burn_submission(peg, "t1", n), now_ms=5)
    b = balance(peg.c, peg.e)
    assert b.ok and (b.locked_c, b.released_c, b.outstanding_e, b.spent_e) == \
        (9_000, 6_500, 0, 2_500)
    assert b.to_mint == b.to_release == 0
    # both chains verify with the two-subtree root and survive a restart unchanged
    assert peg.c.chain.verify().ok and peg.e.chain.verify().ok
    peg.reopen()
    assert balance(peg.c, peg.e).as_dict() == b.as_dict()


def test_replayed_proof_is_refused_and_counted(peg):
    sub = lock_submission(peg)
    peg.e.mint(sub, now_ms=2)
    with pytest.raises(Refused) as exc:
        peg.e.mint(sub, now_ms=3)
    assert exc.value.reason is Reason.REPLAYED_PROOF
    assert peg.e.refusals[Reason.REPLAYED_PROOF] == 1
    peg.reopen()  # the consumed proof is remembered through a restart (it is on the chain)
    with pytest.raises(Refused, match="replayed_proof"):
        peg.e.mint(sub, now_ms=3)


def test_second_mint_of_one_lock_is_refused(peg):
    """A faulty C writes the same lock twice: the second, differently proven, mints nothing."""
    sub = lock_submission(peg, "t1", 100)
    peg.e.mint(sub, now_ms=2)
    peg.c.chain.append([{"kind": "lock", "transfer": "t1", "payer": "buyer", "payee": "seller",
                         "amount_micro": 100}], 3)
    again = lock_submission(peg, "t-other", 1)  # moves C on; then prove the duplicate lock
    block = peg.c.chain.store.get(peg.c.chain.store.height() - 1)
    again["proof"] = tx_proof(peg.c.chain.layout, block, 0)
    with pytest.raises(Refused) as exc:
        peg.e.mint(again, now_ms=4)
    assert exc.value.reason is Reason.SECOND_MINT and peg.e.refusals[Reason.SECOND_MINT] == 1
    assert peg.e.minted["t1"].amount == 100


def test_mint_without_lock_is_refused(peg):
    lock_submission(peg, "t1", 100)
    peg.c.chain.append([{"kind": "carbon_trade", "cycle": 1, "n": 0, "seller": "s",
                         "buyer": "b", "qty_g": 5, "ask": 1, "bid": 1, "price": 1,
                         "turnover_micro": 0, "phase": 1}], 3)
    block = peg.c.chain.store.get(peg.c.chain.store.height())
    sub = {"headers": peg.c.chain.headers(0, block.height),
           "proof": tx_proof(peg.c.chain.layout, block, 0)}
    for bad in (sub, {"headers": []}):
        with pytest.raises(Refused) as exc:
            peg.e.mint(bad, now_ms=4)
        assert exc.value.reason is Reason.MINT_WITHOUT_LOCK
    assert peg.e.refusals[Reason.MINT_WITHOUT_LOCK] == 2 and not peg.e.minted


def test_proof_against_an_unknown_header_is_refused(peg):
    sub = lock_submission(peg)
    stranger = generate_key()
    from hub.carbonmarket.twotree import CARBON, make_block

    fake = make_block(layout=CARBON, chain="carbon", height=0, prev="00" * 32,
                      txs=[{"kind": "lock", "transfer": "t9", "payer": "b", "payee": "s",
                            "amount_micro": 10**9}], ts=1, key=stranger)
    forged = {"headers": [json.loads(fake.header.to_bytes())],
              "proof": tx_proof(CARBON, fake, 0)}
    with pytest.raises(Refused) as exc:
        peg.e.mint(forged, now_ms=2)
    assert exc.value.reason is Reason.UNKNOWN_HEADER
    assert peg.e.refusals[Reason.UNKNOWN_HEADER] == 1 and not peg.e.minted
    peg.e.mint(sub, now_ms=2)  # the honest one still goes through


def test_proof_against_a_forked_header_is_refused(peg):
    """C's key signs a second, different block at a height E already holds."""
    peg.e.mint(lock_submission(peg, "t1", 50), now_ms=2)
    from hub.carbonmarket.twotree import CARBON, make_block

    held = peg.e.light.headers[0]
    fork = make_block(layout=CARBON, chain="carbon", height=0, prev="00" * 32,
                      txs=[{"kind": "lock", "transfer": "t2", "payer": "b", "payee": "s",
                            "amount_micro": 10**9}], ts=held.ts, key=peg.c_key)
    forked = {"headers": [json.loads(fork.header.to_bytes())], "proof": tx_proof(CARBON, fork, 0)}
    with pytest.raises(Refused) as exc:
        peg.e.mint(forked, now_ms=3)
    assert exc.value.reason is Reason.FORKED_HEADER
    forked["headers"] = []
    with pytest.raises(Refused) as exc:
        peg.e.mint(forked, now_ms=3)
    assert exc.value.reason is Reason.FORKED_HEADER
    assert peg.e.refusals[Reason.FORKED_HEADER] == 2 and "t2" not in peg.e.minted


def test_proof_against_an_unanchored_header_is_refused(peg):
    peg.c.lock("t0", "b", "s", 1, now_ms=1)
    # headers that skip height 0: they do not link to anything E holds
    sub = lock_submission(peg, "t1", 70, all_headers=False)
    with pytest.raises(Refused) as exc:
        peg.e.mint(sub, now_ms=2)
    assert exc.value.reason is Reason.UNANCHORED_HEADER
    # linked headers, but the oracles have only seen C up to height 0
    sub = lock_submission(peg, "t2", 70)
    peg.answer_override = lambda req, answers: [_answer_at(o, req, peg, 0) for o in peg.oracles]
    with pytest.raises(Refused) as exc:
        peg.e.mint(sub, now_ms=2)
    assert exc.value.reason is Reason.UNANCHORED_HEADER
    assert peg.e.refusals[Reason.UNANCHORED_HEADER] == 2 and not peg.e.minted


def _answer_at(oracle, request, peg, height):
    """An oracle whose view of C stops at ``height`` (it has not seen later blocks yet)."""
    saved = oracle.readers["carbon"]
    oracle.readers["carbon"] = lambda h: peg.c.hash_at(h) if h <= height else None
    try:
        return oracle.answer(request)
    finally:
        oracle.readers["carbon"] = saved


def test_burn_more_than_outstanding_is_refused(peg):
    peg.e.mint(lock_submission(peg, "t1", 1_000), now_ms=2)
    peg.spend("t1", 400, "bill", now_ms=3)
    with pytest.raises(Refused) as exc:
        peg.burn("t1", 601, now_ms=4)
    assert exc.value.reason is Reason.BURN_OVER_OUTSTANDING
    with pytest.raises(Refused) as exc:
        peg.burn("nothing-minted", 1, now_ms=4)
    assert exc.value.reason is Reason.BURN_OVER_OUTSTANDING
    assert peg.e.refusals[Reason.BURN_OVER_OUTSTANDING] == 2
    with pytest.raises(Refused) as exc:
        peg.spend("t1", 601, "bill", now_ms=4)
    assert exc.value.reason is Reason.SPEND_OVER_OUTSTANDING
    assert peg.e.outstanding("t1") == 600 and balance(peg.c, peg.e).ok


def test_unlock_without_burn_is_refused(peg):
    peg.e.mint(lock_submission(peg, "t1", 1_000), now_ms=2)
    peg.spend("t1", 10, "bill", now_ms=3)  # a spend is proven on E, but it is no burn
    store = peg.e.chain.store
    block = store.get(store.height())
    sub = {"headers": peg.e.chain.headers(0, store.height()),
           "proof": tx_proof(peg.e.chain.layout, block, 0)}
    for bad in (sub, {"headers": []}):
        with pytest.raises(Refused) as exc:
            peg.c.unlock(bad, now_ms=4)
        assert exc.value.reason is Reason.UNLOCK_WITHOUT_BURN
    assert peg.c.refusals[Reason.UNLOCK_WITHOUT_BURN] == 2 and not peg.c.released
    n = peg.burn("t1", 990, now_ms=5)
    peg.c.unlock(burn_submission(peg, "t1", n), now_ms=6)
    assert peg.c.released == {"t1": 990} and balance(peg.c, peg.e).ok


def test_oracle_answers_unsigned_or_in_the_minority_are_refused(peg):
    peg.c.lock("t0", "b", "s", 1, now_ms=1)
    sub = lock_submission(peg, "t1", 5)
    head = (1, peg.c.hash_at(1))

    def one_forged(req, answers):
        return [answers[0], answers[1] | {"sig": "00" * 64}, answers[2]]

    peg.answer_override = one_forged
    peg.e.mint(sub, now_ms=2)  # two of three honest signatures: 67 % > 51 %
    assert peg.e.refusals[Reason.ORACLE_UNSIGNED] == 1

    refusals = Refusals()
    req = make_request(peg.e_key, "electricity", "carbon", 99, 1)
    honest = [o.answer(req) for o in peg.oracles]
    liar = _answer_at(peg.oracles[2], req, peg, 0)
    assert tally(req, honest[:2] + [liar], [o.id for o in peg.oracles], refusals) == head
    assert refusals[Reason.ORACLE_MINORITY] == 1
    # only one honest signature of three: no quorum, nothing accepted
    with pytest.raises(Refused) as exc:
        tally(req, [honest[0], liar, {"oracle": "x"}], [o.id for o in peg.oracles], refusals)
    assert exc.value.reason is Reason.ORACLE_NO_QUORUM
    assert refusals[Reason.ORACLE_UNSIGNED] == 1


def test_a_refused_submission_in_the_box_costs_only_itself(peg, tmp_path):
    from hub.carbonmarket.submissions import Submissions

    good = lock_submission(peg, "t1", 5)
    box = Submissions(tmp_path / "box.db")
    bad_id = box.submit("mint", "t1", {"headers": [], "proof": {"tx": {}}})
    good_id = box.submit("mint", "t1", good)
    replay_id = box.submit("mint", "t1", good)
    assert peg.e.process(box, 2) == {"done": 1, "refused": 2}
    assert box.get(bad_id).state == "refused" and box.get(good_id).state == "done"
    assert box.get(replay_id).reason == "replayed_proof"
    box.close()


def test_a_clearing_cycle_locks_each_payment_and_e_mints_it(peg):
    from hub.carbonmarket.clearing import Participant, clear_bilateral

    clearing = clear_bilateral([Participant("cec-5", "cec", -700, 80_000, 1),
                                Participant("cec-12", "cec", 500, 60_000, 2),
                                Participant("pvp-6", "pvp", 400, 50_000, 3)])
    ids = peg.c.settle_cycle(1, [], clearing, now_ms=1)
    # 500 g at 70,000 = 35,000 micro; 200 g at 65,000 = 13,000 micro
    assert ids == ["c1-0", "c1-1"]
    assert {t: (lk.payer, lk.payee, lk.amount) for t, lk in peg.c.locks.items()} == \
        {"c1-0": ("cec-5", "cec-12", 35_000), "c1-1": ("cec-5", "pvp-6", 13_000)}
    block = peg.c.chain.store.get(0)
    pos = next(i for i, tx in enumerate(block.tx_objects()) if tx.get("transfer") == "c1-1")
    peg.e.mint({"headers": peg.c.chain.headers(0, 0),
                "proof": tx_proof(peg.c.chain.layout, block, pos)}, now_ms=2)
    assert peg.e.minted["c1-1"].to == "pvp-6" and peg.e.outstanding("c1-1") == 13_000
    b = balance(peg.c, peg.e)
    assert b.ok and b.to_mint == 35_000 and b.outstanding_e == 13_000


def test_a_proof_stays_good_while_the_other_chain_moves_on(peg):
    """The oracles are asked about the proof's header, not the head: no race with new blocks."""
    sub = lock_submission(peg, "t1", 10)
    for i in range(3):
        peg.c.lock(f"later-{i}", "b", "s", 1, now_ms=2)
    peg.e.mint(sub, now_ms=3)
    assert peg.e.outstanding("t1") == 10 and peg.e.light.anchored == 0


def test_oracles_vouching_for_another_header_than_the_relayed_one_refuse_it(peg):
    sub = lock_submission(peg, "t1", 10)

    def other_hash(req, answers):
        for o in peg.oracles:
            o.readers["carbon"] = lambda h: "ee" * 32
        try:
            return [o.answer(req) for o in peg.oracles]
        finally:
            for o in peg.oracles:
                o.readers["carbon"] = peg.c.hash_at

    peg.answer_override = other_hash
    with pytest.raises(Refused) as exc:
        peg.e.mint(sub, now_ms=2)
    assert exc.value.reason is Reason.FORKED_HEADER and not peg.e.minted


def test_an_oracle_refuses_a_height_no_chain_can_reach(peg):
    """A correctly signed request for a negative height is refused as a bad request; one past
    2^53 cannot even be signed (canonical JSON bounds its integers) and is refused too."""
    req = make_request(peg.e_key, "electricity", "carbon", 100, -1)
    with pytest.raises(Refused, match="no height in 0..9007199254740991") as exc:
        peg.oracles[0].answer(req)
    assert exc.value.reason is Reason.BAD_REQUEST
    with pytest.raises(Refused) as exc:
        peg.oracles[0].answer({**req, "height": 1 << 70})
    assert exc.value.reason is Reason.BAD_REQUEST
    req = make_request(peg.e_key, "electricity", "carbon", 101, (1 << 53) - 1)
    assert peg.oracles[0].answer(req)["hash"] is None  # at the bound: asked, and not there
