"""The gateway's wire messages, as edge/protocol/messages.py defines them.

Plain dicts built by small functions (MicroPython has no dataclasses); the
tag is HMAC-SHA256 over the canonical bytes of the message without "tag"
(edge/protocol/auth.py). Optional fields are omitted, never null.
"""

from gateway.canon import canonical

V = 1
FW = "cegw-0.1.0"
MAX_READINGS = 32


def _base(kind, site, gw, seq, ts):
    return {"v": V, "type": kind, "site": site, "gw": gw, "seq": seq, "ts": ts}


def telemetry(site, gw, seq, ts, readings, energy=None, hist=False):
    m = _base("telemetry", site, gw, seq, ts)
    m["readings"] = readings
    if energy is not None:
        m["energy"] = energy
    if hist:
        m["hist"] = True
    return m


def bid(site, gw, seq, ts, interval, side, qty_wh, price, round_=0):
    m = _base("bid", site, gw, seq, ts)
    m.update({"interval": interval, "side": side, "qty_wh": qty_wh, "price": price,
              "round": round_})
    return m


def sealed_bid(site, gw, seq, ts, interval, side, blob_hex, kid, round_=0):
    """A bid whose price and quantity travel sealed to the organiser key `kid` (sealed.py)."""
    m = _base("bid", site, gw, seq, ts)
    m.update({"interval": interval, "side": side, "sealed": blob_hex, "kid": kid,
              "round": round_})
    return m


def carbon_bid(site, gw, seq, ts, side, price, valid_from, valid_to):
    """The carbon quote of the policy for one price signal's validity (no quantity: the hub
    sizes carbon orders from verified meters)."""
    m = _base("carbon_bid", site, gw, seq, ts)
    m.update({"side": side, "price": price, "valid_from": valid_from, "valid_to": valid_to})
    return m


def status(site, gw, seq, ts, state, uptime_s=0, counters=None):
    m = _base("status", site, gw, seq, ts)
    m.update({"state": state, "fw": FW, "uptime_s": uptime_s})
    if counters:
        # the model allows 32 entries: downlink counters (rx_*, the refusals among them)
        # first, then the largest, so the limit never rejects a birth nor hides a refusal
        items = sorted(counters.items(),
                       key=lambda kv: (not kv[0].startswith("rx_"), -kv[1]))[:32]
        m["counters"] = dict(items)
    return m


def seal(msg, mac):
    """Wire bytes of `msg` with its tag (`mac` is an hmac256.HMAC with the gateway key)."""
    body = dict(msg)
    body.pop("tag", None)
    body["tag"] = mac.hexdigest(canonical(body))
    return canonical(body)
