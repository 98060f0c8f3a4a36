"""The firmware's topics (firmware/gateway/topics.py) on the MicroPython unix port.

Expected strings: the topic contract written out by hand
(site/{site}/gw/{gw}/telemetry|bid|carbon_bid|status, site/{site}/market/{interval}/result,
site/{site}/price), then the edge's own edge/protocol/topics.py.
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
    " 'price': topics.price(s), 'downlink': topics.downlink(s), 'key': topics.key(s, iv),"
    " 'kinds': [topics.downlink_kind(s, t) for t in ("
    "topics.result(s, iv), topics.price(s), 'site/other/price', 'site/%s/market/1/2/result' % s,"
    " 'site/%s/market//result' % s, topics.gateway(s, g, 'bid'), topics.key(s, iv),"
    " 'site/%s/market/1/2/key' % s)]}))"
)


def firmware_topics() -> dict:
    return json.loads(run_mp(SNIPPET).stdout.strip().splitlines()[-1])


def test_topics_are_the_contract():
    got = firmware_topics()
    assert got["gw"] == [f"site/s-1.a/gw/gw_07/{k}" for k in ("telemetry", "bid", "carbon_bid", "peg_spend", "peg_burn",
                                                             "status")]
    assert got["result"] == "site/s-1.a/market/1718960400/result"
    assert got["result_filter"] == "site/s-1.a/market/+/result"
    assert got["price"] == "site/s-1.a/price"
    assert got["downlink"] == [["site/s-1.a/market/+/result", 1], ["site/s-1.a/price", 1],
                               ["site/s-1.a/market/+/key", 1]]
    assert got["key"] == "site/s-1.a/market/1718960400/key"
    assert got["kinds"] == ["result", "price", None, None, None, None, "key", None]


def test_topics_equal_the_edges():
    """The firmware's block and edge/protocol/topics.py give the same strings for a sample."""
    from edge.protocol import topics

    got = firmware_topics()
    assert got["gw"] == [topics.gateway(SITE, GW, k) for k in topics.GATEWAY_KINDS]
    assert got["result"] == topics.result(SITE, IV)
    assert got["result_filter"] == topics.result_filter(SITE)
    assert got["price"] == topics.price(SITE)
    assert got["key"] == topics.organiser_key(SITE, IV)
    assert got["downlink"] == [[topics.result_filter(SITE), topics.QOS],
                               [topics.price(SITE), topics.QOS],
                               [topics.organiser_key(SITE, IV).replace(str(IV), "+"),
                                topics.QOS]]
    # what the edge subscribes to covers exactly what the firmware publishes
    assert [f for f, _ in topics.gateway_filters(SITE)] == [
        t.replace(f"/gw/{GW}/", "/gw/+/") for t in got["gw"]]
    for t in got["gw"]:
        parsed = topics.parse_gateway(t, SITE)
        assert (parsed.site, parsed.gw) == (SITE, GW) and t.endswith("/" + parsed.kind)
