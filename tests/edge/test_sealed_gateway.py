"""The gateway's half of sealed bids, on the MicroPython unix port against the edge's own code.

The firmware's downlink keeps the organiser keys the edge announced (signed
with the edge's Ed25519 key, as every downlink message) and its bidder seals
each quote to the key of its interval and round. Every blob is opened here
by the edge (edge.market.sealed.open_bid, `cryptography`), so the two sides
are checked against each other, not against themselves. A key announcement
that the edge did not sign, or that is stale, replayed or malformed, is
refused with its reason and leaves the keys as they were.
"""

from __future__ import annotations

import json

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from edge.market import sealed
from tests.kit.firmware import TEST_EDGE_SEED, TEST_EDGE_SIGNER, run_mp

SITE, GW = "s1", "gw-01"
IV = 1_718_445_600  # an interval start; the gateway's open interval is the one before
OPEN = IV - 900
POL = {"sell_min": 50000, "buy_max": 300000, "soc_min_pm": 100, "soc_max_pm": 950,
       "min_qty_wh": 1, "margin": 0, "tick": 1000, "strategy": "toward-price"}

EDGE = Ed25519PrivateKey.from_private_bytes(TEST_EDGE_SEED)
OTHER = Ed25519PrivateKey.from_private_bytes(bytes(range(64, 96)))


def announce(key: sealed.OrganiserKey, signer: Ed25519PrivateKey = EDGE, **over) -> dict:
    msg = sealed.announcement(SITE, key, signer, 1_718_445_000_000)
    if over:  # re-signed by the edge after the change: only the check of the field can refuse
        msg = {k: v for k, v in msg.items() if k not in ("sig", "signer")}
        msg.update(over)
        from edge.protocol.auth import add_signature
        msg = add_signature(msg, signer)
    return msg


def run_gateway(steps: list[tuple], sealed_only: bool) -> dict:
    """Feed the firmware's Downlink + Bidder with `steps`; what it sent and refused, as JSON.

    A step is ("key", topic interval, message), ("open", surplus_wh) or ("result", topic
    interval, frame as hex).
    """
    code = (
        "import json\nfrom binascii import unhexlify\nfrom gateway.downlink import Downlink\n"
        "from gateway.bidding import Bidder\n"
        "class Seq:\n  n = 0\n  def take(self):\n    Seq.n += 1\n    return Seq.n\n"
        f"site, gw, iv, opened = {SITE!r}, {GW!r}, {IV}, {OPEN}\n"
        f"steps = json.loads({json.dumps(json.dumps(steps))})\n"
        f"pol = json.loads({json.dumps(json.dumps(POL))})\n"
        "sent, refused, c = [], [], {}\n"
        f"dl = Downlink(site, gw, {TEST_EDGE_SIGNER!r})\n"
        f"b = Bidder(site, gw, pol, 900, Seq(), sent.append, c, dl.key_for, {sealed_only})\n"
        "for s in steps:\n"
        "  if s[0] == 'open':\n"
        "    b.open(iv, 1, {'exp_wh': max(s[1], 0), 'imp_wh': max(-s[1], 0)})\n"
        "    continue\n"
        "  topic = 'site/%s/market/%d/%s' % (site, s[1], s[0])\n"
        "  try:\n"
        "    payload = unhexlify(s[2]) if s[0] == 'result' else json.dumps(s[2])\n"
        "    kind, m = dl.accept(topic, payload, opened)\n"
        "  except ValueError as e:\n"
        "    refused.append(getattr(e, 'reason', 'error'))\n"
        "    continue\n"
        "  if kind == 'key':\n"
        "    b.on_key(m['interval'], m['round'], 2)\n"
        "  else:\n"
        "    b.revise(m, 0, 3)\n"
        "print(json.dumps({'sent': sent, 'refused': refused, 'counters': c,"
        " 'keys': {str(k): [v[0], v[2]] for k, v in dl.keys.items()}}))"
    )
    return json.loads(run_mp(code, timeout=120).stdout.strip().splitlines()[-1])


def result_round0(price_other: int) -> str:
    """A signed round-0 result frame (hex) in which our sell offer of 5,000 Wh at 50,000 went
    unfilled against a buyer at `price_other` (so toward-price moves our ask one tick down)."""
    from tests.kit.firmware import result_frame
    return result_frame({
        "v": 1, "type": "result", "site": SITE, "interval": IV, "round": 0, "final": False,
        "ts": 1_718_445_100_000, "volume_wh": 0, "regime": "none",
        "fills": [{"gw": GW, "side": "sell", "qty_wh": 0,
                   "status": "unfilled", "price": 51000, "seq": 0, "order_wh": 5000},
                  {"gw": "gw-02", "side": "buy", "qty_wh": 0,
                   "status": "unfilled", "price": price_other, "seq": 1, "order_wh": 5000}]}).hex()


def test_quotes_are_sealed_to_their_rounds_keys_and_open_at_the_edge():
    k0 = sealed.OrganiserKey.generate(IV, 0)
    k1 = sealed.OrganiserKey.generate(IV, 1)
    pol_margin = 1000  # the opening ask is sell_min + margin (policy.quote), set below
    POL["margin"] = pol_margin
    try:
        got = run_gateway([("key", IV, announce(k0)), ("open", 5000),
                           ("result", IV, result_round0(40000)),
                           ("key", IV, announce(k1))], sealed_only=True)
    finally:
        POL["margin"] = 0
    assert got["refused"] == []
    first, second = got["sent"]
    for m in got["sent"]:
        assert "price" not in m and "qty_wh" not in m  # nothing in plain text
    assert (first["round"], first["kid"]) == (0, k0.kid)
    assert sealed.open_bid(bytes.fromhex(first["sealed"]), k0, GW) == (51_000, 5_000)
    # the revision (toward-price: one tick of 1,000 toward the buyer) waited for round 1's key
    assert (second["round"], second["kid"]) == (1, k1.kid)
    assert sealed.open_bid(bytes.fromhex(second["sealed"]), k1, GW) == (50_000, 5_000)
    assert got["counters"] == {"bids_sealed": 2, "bid_held": 1, "revisions": 1}


def test_a_sealed_site_holds_a_quote_until_its_key_arrives():
    k0 = sealed.OrganiserKey.generate(IV, 0)
    got = run_gateway([("open", -3000), ("key", IV, announce(k0))], sealed_only=True)
    (bid,) = got["sent"]
    assert bid["side"] == "buy" and bid["kid"] == k0.kid
    assert sealed.open_bid(bytes.fromhex(bid["sealed"]), k0, GW) == (300_000, 3_000)
    # without a key and without the site's requirement, the quote goes in plain text
    got = run_gateway([("open", -3000)], sealed_only=False)
    assert [(m["price"], m["qty_wh"]) for m in got["sent"]] == [(300_000, 3_000)]


def test_key_announcements_the_edge_did_not_sign_or_that_are_old_are_refused():
    k0 = sealed.OrganiserKey.generate(IV, 0)
    k1 = sealed.OrganiserKey.generate(IV, 1)
    old = sealed.OrganiserKey.generate(OPEN - 900, 0)
    other = sealed.OrganiserKey.generate(IV, 0)
    forged = announce(k0, OTHER)
    forged["signer"] = EDGE.public_key().public_bytes_raw().hex()  # claims the edge's key
    steps = [
        ("key", IV, announce(k0, OTHER)),  # signed by someone else
        ("key", IV, forged),  # the edge's name, another key's signature
        ("key", IV, dict(announce(k0), pub=other.public.hex())),  # changed after signing
        ("key", IV, announce(k0, kid="00" * 8)),  # signed, but kid is not the pub's name
        ("key", OPEN - 900, announce(old)),  # an interval that has ended
        ("key", IV, announce(k1)),
        ("key", IV, announce(k0)),  # an older round of the same interval: a replay
        ("key", IV, announce(k1)),  # the same again
        ("open", 5000),  # round 0's key was never accepted: the quote is held
    ]
    got = run_gateway(steps, sealed_only=True)
    assert got["refused"] == ["forged", "forged", "forged", "bad", "stale", "replay", "replay"]
    assert got["keys"] == {str(IV): [1, k1.kid]}
    assert got["sent"] == [] and got["counters"] == {"bid_held": 1}
