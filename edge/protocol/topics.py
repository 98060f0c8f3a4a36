"""Every MQTT topic of the site, built and parsed here and nowhere else in edge/.

The topic contract (the firmware mirrors it as one constant block):

    site/{site}/gw/{gw}/telemetry      gateway -> edge   Telemetry     QoS 1
    site/{site}/gw/{gw}/bid            gateway -> edge   Bid           QoS 1
    site/{site}/gw/{gw}/carbon_bid     gateway -> edge   CarbonBid     QoS 1
    site/{site}/gw/{gw}/peg_spend      gateway -> edge   PegSpend      QoS 1
    site/{site}/gw/{gw}/peg_burn       gateway -> edge   PegBurn       QoS 1
    site/{site}/gw/{gw}/status         gateway -> edge   GatewayStatus QoS 1 (birth; last will)
    site/{site}/market/{interval}/result  edge -> gateways  result frame   QoS 1, retained
    site/{site}/market/{interval}/key     edge -> gateways  OrganiserKeyMessage QoS 1, retained
    site/{site}/price                  edge -> gateways  PriceSignal   QoS 1, retained

``{site}`` and ``{gw}`` are ids (``edge.protocol.types.ID_PATTERN``: no ``/``,
``+`` or ``#``, so an id can never widen a subscription or an ACL);
``{interval}`` is the interval start in seconds, in decimal. The edge
subscribes to ``site/{site}/gw/+/{kind}`` for every gateway kind; a
gateway subscribes to ``site/{site}/market/+/result``,
``site/{site}/market/+/key`` and ``site/{site}/price``. The broker's ACL
gives each gateway write access to ``site/+/gw/{its id}/#`` only, and the
payload's ``site``/``gw`` must agree with the topic (checked by admission).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from edge.protocol.errors import ProtocolError, Reason
from edge.protocol.types import is_id

ROOT = "site"
GW = "gw"
MARKET = "market"
RESULT = "result"
PRICE = "price"

GatewayKind = Literal["telemetry", "bid", "carbon_bid", "peg_spend", "peg_burn", "status"]
#: Gateway topic kind -> message type it must carry (the same name, by design).
GATEWAY_KINDS: dict[str, str] = {"telemetry": "telemetry", "bid": "bid",
                                 "carbon_bid": "carbon_bid", "peg_spend": "peg_spend",
                                 "peg_burn": "peg_burn", "status": "status"}
#: QoS of every topic: at least once, with sequence numbers for duplicates.
QOS = 1


def _id(value: str) -> str:
    """An id as a topic level; anything that could add a level or a wildcard is refused."""
    if not is_id(value):
        raise ValueError(f"{value!r} is not an id (1-32 of A-Z a-z 0-9 _ . -)")
    return value


def gateway(site: str, gw: str, kind: str) -> str:
    """``site/{site}/gw/{gw}/{kind}``: where a gateway publishes one kind of message."""
    if kind not in GATEWAY_KINDS:
        raise ValueError(f"unknown gateway topic kind {kind!r}")
    return f"{ROOT}/{_id(site)}/{GW}/{_id(gw)}/{kind}"


def gateway_filters(site: str) -> list[tuple[str, int]]:
    """The edge's subscriptions: every gateway's kinds, at QoS 1."""
    return [(f"{ROOT}/{_id(site)}/{GW}/+/{kind}", QOS) for kind in GATEWAY_KINDS]


def result(site: str, interval: int) -> str:
    """``site/{site}/market/{interval}/result``: one interval's round results (retained)."""
    return f"{ROOT}/{_id(site)}/{MARKET}/{int(interval)}/{RESULT}"


def organiser_key(site: str, interval: int) -> str:
    """``site/{site}/market/{interval}/key``: the organiser key of the interval's newest round
    (retained): what sealed bids are sealed to."""
    return f"{ROOT}/{_id(site)}/{MARKET}/{int(interval)}/key"


def result_filter(site: str) -> str:
    """A gateway's subscription to every interval's results."""
    return f"{ROOT}/{_id(site)}/{MARKET}/+/{RESULT}"


def price(site: str) -> str:
    """``site/{site}/price``: the newest price signal relayed from the hub (retained)."""
    return f"{ROOT}/{_id(site)}/{PRICE}"


@dataclass(frozen=True)
class GatewayTopic:
    site: str
    gw: str
    kind: str

    @property
    def message_type(self) -> str:
        return GATEWAY_KINDS[self.kind]


def gateway_of(topic: str, site: str) -> tuple[str, str] | None:
    """(gw, kind) of ``site/{site}/gw/{gw}/{kind}`` of this site, else None (no exception:
    ingest's fast path asks this of every message)."""
    parts = topic.split("/")
    if (len(parts) != 5 or parts[0] != ROOT or parts[1] != site or parts[2] != GW
            or parts[4] not in GATEWAY_KINDS):
        return None
    return parts[3], parts[4]


def parse_gateway(topic: str, site: str) -> GatewayTopic:
    """``site/{site}/gw/{gw}/{kind}`` of this site, else ProtocolError(TOPIC_MISMATCH)."""
    parts = topic.split("/")
    if len(parts) != 5 or parts[0] != ROOT or parts[2] != GW or parts[4] not in GATEWAY_KINDS:
        raise ProtocolError(Reason.TOPIC_MISMATCH, f"topic {topic!r} is not a gateway topic")
    if parts[1] != site:
        raise ProtocolError(Reason.TOPIC_MISMATCH, f"topic names site {parts[1]!r}, not {site!r}")
    return GatewayTopic(parts[1], parts[3], parts[4])
