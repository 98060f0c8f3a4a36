"""The topic contract: built and parsed in one module, refusing anything else."""

from __future__ import annotations

import pytest

from edge.protocol import topics
from edge.protocol.errors import ProtocolError, Reason


def test_topics_are_the_documented_strings():
    # the strings of the contract, written out by hand
    assert topics.gateway("s1", "gw-01", "telemetry") == "site/s1/gw/gw-01/telemetry"
    assert topics.gateway("s1", "gw-01", "bid") == "site/s1/gw/gw-01/bid"
    assert topics.gateway("s1", "gw-01", "status") == "site/s1/gw/gw-01/status"
    assert topics.result("s1", 1_700_000_100) == "site/s1/market/1700000100/result"
    assert topics.result_filter("s1") == "site/s1/market/+/result"
    assert topics.price("s1") == "site/s1/price"
    assert topics.gateway_filters("s1") == [("site/s1/gw/+/telemetry", 1),
                                            ("site/s1/gw/+/bid", 1),
                                            ("site/s1/gw/+/carbon_bid", 1),
                                            ("site/s1/gw/+/peg_spend", 1),
                                            ("site/s1/gw/+/peg_burn", 1),
                                            ("site/s1/gw/+/status", 1)]


@pytest.mark.parametrize("kind", ["telemetry", "bid", "carbon_bid", "peg_spend", "peg_burn",
                                  "status"])
def test_gateway_topics_parse_back(kind):
    t = topics.parse_gateway(topics.gateway("s1", "gw7", kind), "s1")
    assert (t.site, t.gw, t.kind, t.message_type) == ("s1", "gw7", kind, kind)


@pytest.mark.parametrize("topic", [
    "site/s2/gw/gw1/bid",           # another site
    "site/s1/gw/gw1",               # too short
    "site/s1/gw/gw1/bid/extra",     # too long
    "site/s1/gw/gw1/result",        # not a gateway kind
    "site/s1/market/900/result",    # the edge's own output
    "sites/s1/gw/gw1/bid",
    "",
])
def test_other_topics_are_a_topic_mismatch(topic):
    with pytest.raises(ProtocolError) as exc:
        topics.parse_gateway(topic, "s1")
    assert exc.value.reason is Reason.TOPIC_MISMATCH


@pytest.mark.parametrize("site,gw", [("s/1", "gw1"), ("s1", "gw+"), ("s1", "#"), ("", "gw1")])
def test_builders_refuse_ids_that_would_change_the_topic(site, gw):
    with pytest.raises(ValueError):
        topics.gateway(site, gw, "bid")
