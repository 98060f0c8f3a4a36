"""Carbon bid advice at the gateway: the firmware's policy against the CPython reference,
and the signed signal's advice through a real gateway process (accepted, tampered, malformed).

The hub's copula advice (hub.carbonmarket.correlation) travels as the
PriceSignal's ``carbon_bid`` (low, median, high); a gateway whose policy is
"advised" keeps its carbon quote inside the range. ``gateway.policy.carbon_bid``
runs on the MicroPython unix port and must equal
``hub.carbonmarket.bidding.carbon_bid`` case by case; hand-computed cases pin
the rule itself.
"""

from __future__ import annotations

import json
import random

from hub.carbonmarket.bidding import carbon_bid
from tests.kit.firmware import gateway_config, run_mp, sign_downlink

ADVICE = (50_479, 63_100, 78_634)


def mp_json(code: str):
    return json.loads(run_mp(code).stdout.strip().splitlines()[-1])


def test_hand_cases_of_the_reference():
    lo, med, hi = ADVICE
    # a buyer bids its limit, never above high; below low it would not trade: no order
    assert carbon_bid("buy", 90_000, ADVICE, "advised") == 78_634
    assert carbon_bid("buy", 70_000, ADVICE, "advised") == 70_000
    assert carbon_bid("buy", 50_479, ADVICE, "advised") == 50_479
    assert carbon_bid("buy", 50_478, ADVICE, "advised") is None
    # a seller asks its limit, never below low; above high: no order
    assert carbon_bid("sell", 10_000, ADVICE, "advised") == 50_479
    assert carbon_bid("sell", 78_634, ADVICE, "advised") == 78_634
    assert carbon_bid("sell", 78_635, ADVICE, "advised") is None
    # without advice, or in "limit" mode, the limit; "off" never bids
    assert carbon_bid("buy", 90_000, None, "advised") == 90_000
    assert carbon_bid("buy", 90_000, ADVICE, "limit") == 90_000
    assert carbon_bid("sell", 1, ADVICE, "off") is None
    assert lo <= med <= hi


def test_firmware_policy_equals_the_reference_on_the_port():
    rnd = random.Random(5)
    cases = []
    for _ in range(400):
        a = sorted(rnd.randrange(0, 200_000) for _ in range(3))
        advice = None if rnd.random() < 0.1 else a
        cases.append([rnd.choice(["buy", "sell"]), rnd.randrange(0, 250_000), advice,
                      rnd.choice(["off", "limit", "advised", "advised", "advised"])])
    # the edges of the range exactly
    for side in ("buy", "sell"):
        for lim in (ADVICE[0] - 1, ADVICE[0], ADVICE[2], ADVICE[2] + 1):
            cases.append([side, lim, list(ADVICE), "advised"])
    got = mp_json(
        "import json\nfrom gateway import policy\n"
        f"cases = json.loads({json.dumps(json.dumps(cases))})\n"
        "out = [policy.carbon_bid(s, l, None if a is None else tuple(a), m)"
        " for s, l, a, m in cases]\n"
        "print(json.dumps(out))")
    want = [carbon_bid(s, lim, None if a is None else tuple(a), m) for s, lim, a, m in cases]
    assert got == want
    inside = [p for p, (_, _, a, m) in zip(got, cases, strict=True)
              if m == "advised" and a is not None and p is not None]
    assert inside and all(a[0] <= p <= a[2] for p, (_, _, a, m) in zip(got, cases, strict=True)
                          if m == "advised" and a is not None and p is not None)


def signal(ts: int, advice: dict | None, adder: int = 1500) -> dict:
    msg = {"v": 1, "type": "price", "site": "s1", "valid_from": 0, "valid_to": 2**40,
           "ts": ts, "p_low": 1, "p_high": 2, "intensity_g_kwh": 300,
           "adders": {"gw-01": adder}}
    if advice is not None:
        msg["carbon_bid"] = advice
    return msg


def advice_field(low: int, median: int, high: int, v: int = 1) -> dict:
    return {"v": v, "electricity_price": 150_000, "low": low, "median": median, "high": high,
            "level_pm": 900}


def test_gateway_bids_inside_the_signed_advice_and_refuses_a_tampered_range(
        broker_factory, firmware_factory, collector_factory):
    broker = broker_factory()
    col = collector_factory(broker)
    dead_meter = [{"name": "m1", "kind": "meter", "port": 1, "unit": 1, "max_w": 1000}]
    fw = firmware_factory(gateway_config(
        broker, dead_meter,
        policy={"carbon_bid": "advised", "carbon_side": "buy", "carbon_limit": 90_000}))
    fw.wait_for("mqtt_connected", timeout=20)

    def send(msg: dict) -> None:
        col.c.publish("site/s1/price", json.dumps(msg), qos=1)

    good = sign_downlink(signal(7, advice_field(*ADVICE)))
    # the range widened after signing: the signature no longer holds
    tampered = {**good, "carbon_bid": {**good["carbon_bid"], "high": 95_000}}
    send(tampered)
    send(sign_downlink(signal(8, advice_field(80_000, 70_000, 90_000))))  # low > median
    send(sign_downlink(signal(9, {**advice_field(*ADVICE), "level_pm": 1000})))
    send(good)
    send(sign_downlink(signal(10, advice_field(1, 2, 3, v=2))))  # a version it does not know
    fw.wait_for("carbon_bid", count=2, timeout=20)
    assert [e["msg"] for e in fw.events("rx_forged")] == ["Ed25519 signature does not verify"]
    assert [e["msg"] for e in fw.events("rx_bad")] == [
        "price signal carbon_bid needs low <= median <= high",
        "price signal carbon_bid.level_pm must be an integer in 1..999"]
    bids = [(e["price"], e["advice"]) for e in fw.events("carbon_bid")]
    # limit 90,000 above the advised high 78,634: bids the high end (hand rule)
    assert bids[0] == (78_634, list(ADVICE))
    # the unknown advice version is ignored, not the signal: no advice, the limit
    assert bids[1] == (90_000, None)
    assert fw.alive
