"""What the edge sends down: clearing results and price signals, checked and kept.

`Downlink.accept(topic, payload)` parses one message, checks the fields the
gateway acts on (a ValueError names the bad one) and keeps it; the caller
counts and logs a refusal, so one bad message costs only itself. Memory is
bounded: the newest KEEP_RESULTS results by interval and KEEP_PRICES signals.
"""

import json

from gateway import policy, topics
from gateway.log import log

KEEP_RESULTS = 8
KEEP_PRICES = 8
STATUSES = ("filled", "partial", "unfilled", "excluded")


def _is_int(v):
    return isinstance(v, int) and not isinstance(v, bool)


def check_result(msg):
    """The fields of a clearing result the gateway acts on; ValueError names the bad one."""
    if not _is_int(msg.get("interval")):
        raise ValueError("result interval must be an integer")
    if not _is_int(msg.get("round")) or msg["round"] < 0:
        raise ValueError("result round must be a non-negative integer")
    if not isinstance(msg.get("final"), bool):
        raise ValueError("result final must be true or false")
    if msg.get("price") is not None and not _is_int(msg["price"]):
        raise ValueError("result price must be an integer")
    fills = msg.get("fills")
    if not isinstance(fills, list):
        raise ValueError("result fills must be a list")
    for i, f in enumerate(fills):
        if (not isinstance(f, dict) or not isinstance(f.get("gw"), str)
                or f.get("side") not in ("buy", "sell") or f.get("status") not in STATUSES
                or not _is_int(f.get("qty_wh"))):
            raise ValueError("result fills[%d] malformed" % i)


def check_price(msg, gw):
    """This gateway's adder from a price signal; ValueError names the bad field."""
    for k in ("valid_from", "valid_to", "ts"):
        if not _is_int(msg.get(k)):
            raise ValueError("price signal %s must be an integer" % k)
    if msg["valid_to"] <= msg["valid_from"]:
        raise ValueError("price signal valid_to must be after valid_from")
    adders = msg.get("adders", {})
    if not isinstance(adders, dict):
        raise ValueError("price signal adders must be an object")
    a = adders.get(gw, 0)
    if not _is_int(a) or not 0 <= a <= policy.MAX_PRICE:
        raise ValueError("price signal adders[%s] must be an integer in 0..%d"
                         % (gw, policy.MAX_PRICE))
    return a


class Downlink:
    """Results and price signals this gateway has accepted."""

    def __init__(self, site, gw, signer=None):
        self.site, self.gw = site, gw
        self.signer = signer
        self.prices = []  # (valid_from, valid_to, ts, adder) in arrival order
        self.results = {}  # interval -> latest result dict

    def accept(self, topic, payload, open_interval):
        """A checked message as ("result" | "price", msg); ValueError says why not."""
        msg = json.loads(payload)
        if not isinstance(msg, dict) or msg.get("site") != self.site:
            raise ValueError("not an object for site %s" % self.site)
        if self.signer and msg.get("signer") != self.signer:
            raise ValueError("signer is not the configured edge key")
        kind = topics.downlink_kind(self.site, topic)
        if kind is None or msg.get("type") != kind:
            raise ValueError("unexpected message type %r" % (msg.get("type"),))
        if kind == "price":
            self._price(msg, open_interval)
        else:
            self._result(msg)
        return kind, msg

    def _price(self, msg, open_interval):
        """Keep a price signal for its adder: revisions read published prices with it.

        Signals that ended before the open interval are dropped; beyond
        KEEP_PRICES the oldest by ts goes, the one least likely to count
        (policy.adder_for takes the newest).
        """
        a = check_price(msg, self.gw)
        lo, hi, ts = msg["valid_from"], msg["valid_to"], msg["ts"]
        keep = [p for p in self.prices if p[1] > open_interval]
        keep.append((lo, hi, ts, a))
        while len(keep) > KEEP_PRICES:
            oldest = 0
            for i in range(1, len(keep)):
                if keep[i][2] < keep[oldest][2]:
                    oldest = i
            keep.pop(oldest)
        self.prices = keep
        log("price", valid_from=lo, valid_to=hi, ts=ts, adder=a)

    def _result(self, msg):
        check_result(msg)
        self.results[msg["interval"]] = msg
        for k in sorted(self.results)[:-KEEP_RESULTS]:
            del self.results[k]

    def adder_for(self, interval):
        return policy.adder_for(self.prices, interval)

    def final_result(self, interval):
        res = self.results.get(interval)
        return res if res and res.get("final") else None
