"""Every MQTT topic the gateway publishes or subscribes to, in one block.

The edge builds and parses the same topics in edge/protocol/topics.py;
tests/firmware/test_topics.py checks that both give the same strings.
"""

#: what a gateway sends: site, gateway id, kind
GATEWAY = "site/%s/gw/%s/%s"
GATEWAY_KINDS = ("telemetry", "bid", "carbon_bid", "peg_spend", "peg_burn", "status")
#: the edge's clearing result of one interval (retained): site, interval start
RESULT = "site/%s/market/%s/result"
#: the organiser's X25519 key of one interval's current round (retained): site, interval
KEY = "site/%s/market/%s/key"
#: price signals relayed by the edge (retained): site
PRICE = "site/%s/price"
#: what a gateway subscribes to: results of every interval and price signals
ANY = "+"


def gateway(site, gw, kind):
    return GATEWAY % (site, gw, kind)


def result(site, interval=ANY):
    return RESULT % (site, interval)


def key(site, interval=ANY):
    return KEY % (site, interval)


def price(site):
    return PRICE % (site,)


def downlink(site):
    """(topic filter, qos) pairs of everything the edge sends to gateways."""
    return [(result(site), 1), (price(site), 1), (key(site), 1)]


def downlink_kind(site, topic):
    """"result", "key" or "price" for a downlink topic of `site`, else None."""
    if topic == price(site):
        return "price"
    head = "site/%s/market/" % site
    for kind in ("result", "key"):
        tail = "/" + kind
        if topic.startswith(head) and topic.endswith(tail):
            mid = topic[len(head):-len(tail)]
            if mid and "/" not in mid:
                return kind
    return None
