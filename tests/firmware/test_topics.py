"""The firmware's topics (firmware/gateway/topics.py) on the MicroPython unix port.

Expected strings are the topic contract written out by hand
(site/{site}/gw/{gw}/telemetry|bid|status, site/{site}/market/{interval}/result,
site/{site}/price).
"""

from __future__ import annotations

import json

from tests.kit.firmware import run_mp

SITE, GW, IV = "s-1.a", "gw_07", 1718960400

SNIPPET = (
    "import json\nfrom gateway import topics\n"
    f"s, g, iv = {SITE!r}, {GW!r}, {IV}\n"
    "print(json.dumps({'gw': [topics.gateway(s, g, k) for k in topics.GATEWAY_KINDS],"
    " 'result': topics.result(s, iv), 'result_filter': topics.result(s),"
    " 'price': topics.price(s), 'downlink': topics.downlink(s),"
    " 'kinds': [topics.downlink_kind(s, t) for t in ("
    "topics.result(s, iv), topics.price(s), 'site/other/price', 'site/%s/market/1/2/result' % s,"
    " 'site/%s/market//result' % s, topics.gateway(s, g, 'bid'))]}))"
)


def firmware_topics() -> dict:
    return json.loads(run_mp(SNIPPET).stdout.strip().splitlines()[-1])


def test_topics_are_the_contract():
    got = firmware_topics()
    assert got["gw"] == [f"site/s-1.a/gw/gw_07/{k}" for k in ("telemetry", "bid", "status")]
    assert got["result"] == "site/s-1.a/market/1718960400/result"
    assert got["result_filter"] == "site/s-1.a/market/+/result"
    assert got["price"] == "site/s-1.a/price"
    assert got["downlink"] == [["site/s-1.a/market/+/result", 1], ["site/s-1.a/price", 1]]
    assert got["kinds"] == ["result", "price", None, None, None, None]
