"""Spend and burn on E only by the balance's owner, authenticated as a gateway (HMAC tag).

Each refusal has its reason and counter and changes nothing: not the
outstanding balance, not E's chain. The tag is the gateway protocol's
(edge/protocol/auth.py); a request sealed by the firmware itself on the
MicroPython unix port is accepted.
"""

from __future__ import annotations

import json

import pytest

from edge.protocol.auth import add_tag
from hub.carbonmarket.errors import Reason, Refused

from .pegkit import GW_KEYS, make_peg
from .test_peg import lock_submission


@pytest.fixture
def peg(tmp_path):
    p = make_peg(tmp_path)
    p.e.mint(lock_submission(p, "t1", 1_000), now_ms=2)  # 1,000 micro for "seller"
    yield p
    p.c.close()
    p.e.close()


def refused(peg, call, reason: Reason) -> None:
    """``call`` is refused with ``reason``, counted once, and nothing on E moved."""
    before = (peg.e.outstanding("t1"), peg.e.chain.store.height(), peg.e.refusals[reason])
    with pytest.raises(Refused) as exc:
        call()
    assert exc.value.reason is reason, exc.value
    assert (peg.e.outstanding("t1"), peg.e.chain.store.height(), peg.e.refusals[reason]) == \
        (before[0], before[1], before[2] + 1)


def test_the_owner_spends_and_burns(peg):
    peg.spend("t1", 300, "bill-2026-12", now_ms=3)
    n = peg.burn("t1", 200, now_ms=4)
    assert peg.e.outstanding("t1") == 500 and n == 0
    txs = [tx for b in peg.e.chain.blocks() for tx in b.tx_objects()
           if tx["kind"] in ("peg_spend", "peg_burn")]
    assert [(t["kind"], t["by"], t["amount_micro"]) for t in txs] == [
        ("peg_spend", "seller", 300), ("peg_burn", "seller", 200)]


def test_another_gateway_may_not_spend_or_burn_the_balance(peg):
    keys = peg.gw_keys
    # "buyer" is a known gateway and tags correctly with its own key: not the owner
    spend = peg.owner_request("peg_spend", "t1", 100, "bill", gw="buyer")
    refused(peg, lambda: peg.e.spend(spend, keys, now_ms=3), Reason.PEG_NOT_OWNER)
    burn = peg.owner_request("peg_burn", "t1", 100, gw="buyer")
    refused(peg, lambda: peg.e.burn(burn, keys, now_ms=3), Reason.PEG_NOT_OWNER)


def test_unsigned_forged_and_unknown_requests_are_refused(peg):
    keys = peg.gw_keys
    good = peg.owner_request("peg_spend", "t1", 100, "bill")
    untagged = {k: v for k, v in good.items() if k != "tag"}
    refused(peg, lambda: peg.e.spend(untagged, keys, now_ms=3), Reason.PEG_UNSIGNED)
    # "seller" named, the buyer's key used: not the seller's tag
    wrong_key = peg.owner_request("peg_spend", "t1", 100, "bill", key=GW_KEYS["buyer"])
    refused(peg, lambda: peg.e.spend(wrong_key, keys, now_ms=3), Reason.PEG_UNSIGNED)
    # changed after tagging: more than the owner asked for
    refused(peg, lambda: peg.e.spend({**good, "amount_micro": 900}, keys, now_ms=3),
            Reason.PEG_UNSIGNED)
    stranger = add_tag({**untagged, "gw": "mallory"}, bytes(32))
    refused(peg, lambda: peg.e.spend(stranger, keys, now_ms=3), Reason.PEG_UNSIGNED)
    burn = peg.owner_request("peg_burn", "t1", 100)
    refused(peg, lambda: peg.e.burn({**burn, "tag": "00" * 32}, keys, now_ms=3),
            Reason.PEG_UNSIGNED)
    assert peg.e.refusals[Reason.PEG_UNSIGNED] == 5
    peg.e.spend(good, keys, now_ms=3)  # the genuine one still goes through
    assert peg.e.outstanding("t1") == 900


def test_a_replayed_request_is_refused_even_after_a_restart(peg):
    req = peg.owner_request("peg_spend", "t1", 100, "bill")
    peg.e.spend(req, peg.gw_keys, now_ms=3)
    refused(peg, lambda: peg.e.spend(req, peg.gw_keys, now_ms=4), Reason.PEG_REPLAYED_REQUEST)
    peg.reopen()  # the highest seq per gateway is folded from E's chain
    refused(peg, lambda: peg.e.spend(req, peg.gw_keys, now_ms=4), Reason.PEG_REPLAYED_REQUEST)
    assert peg.e.outstanding("t1") == 900


def test_tagged_but_malformed_requests_are_bad_requests(peg):
    keys = peg.gw_keys
    no_bill = peg.owner_request("peg_spend", "t1", 100)
    refused(peg, lambda: peg.e.spend(no_bill, keys, now_ms=3), Reason.BAD_REQUEST)
    a_burn = peg.owner_request("peg_burn", "t1", 100)
    refused(peg, lambda: peg.e.spend(a_burn, keys, now_ms=3), Reason.BAD_REQUEST)
    zero = peg.owner_request("peg_burn", "t1", 0)
    refused(peg, lambda: peg.e.burn(zero, keys, now_ms=3), Reason.BAD_REQUEST)
    refused(peg, lambda: peg.e.burn(["not", "a", "request"], keys, now_ms=3),
            Reason.BAD_REQUEST)


def test_a_request_sealed_by_the_firmware_is_accepted(peg):
    from tests.kit.firmware import run_mp

    key = GW_KEYS["seller"]
    req = {"v": 1, "type": "peg_burn", "gw": "seller", "seq": 50, "ts": 1_767_225_600_000,
           "transfer": "t1", "amount_micro": 250}
    out = run_mp(
        "from binascii import unhexlify\nfrom gateway import messages\n"
        "from gateway.hmac256 import HMAC\n"
        f"m = {json.dumps(req)}\n"
        f"print(messages.seal(m, HMAC(unhexlify('{key.hex()}'))).decode())").stdout
    sealed = json.loads(out.strip().splitlines()[-1])
    assert peg.e.burn(sealed, peg.gw_keys, now_ms=3) == 0
    assert peg.e.outstanding("t1") == 750
