"""What the edge sends down: results, price signals, organiser keys; verified, checked, kept.

`Downlink.accept(topic, payload, open_interval)` takes one message through,
in this order, and raises `Refused` with a reason at the first failure:
- "bad": a result that is not a frame (its signed header's JSON, one
  newline, the binary fills block; gateway/fills.py), or a message that is
  not a JSON object.
- "forged": not signed by the edge key provisioned in the config
  (`edge_signer`): another `signer`, a missing or malformed `sig`, or an
  Ed25519 signature (over the canonical message without `sig`) that does
  not verify. Nothing in an unverified message is looked at further.
- "bad": a field the gateway acts on is malformed (the text names it); for
  a result also a block whose SHA-256 or count is not the header's
  `fills_sha256` / `fills_n`, or that does not decode (bounds as the edge's).
- "stale": it concerns the past: a result or organiser key of an interval
  that has ended (before the open interval), a price signal whose validity
  has ended.
- "replay": it was accepted before: a result not newer than the one kept
  for its interval (round, and final after non-final of the same round), an
  organiser key whose round is not after the one kept for its interval, a
  price signal whose signature is one of those kept.
The caller counts `rx_<reason>` and logs it, so one bad message costs only
itself. Memory is bounded: the newest KEEP_RESULTS results by interval and
KEEP_PRICES signals.
"""

import json
from binascii import unhexlify

from gateway import ed25519, fills, policy, sealed, topics
from gateway.canon import canonical
from gateway.log import log
from gateway.sealed import key_id as sealed_key_id

KEEP_RESULTS = 8
KEEP_PRICES = 8
STATUSES = ("filled", "partial", "unfilled", "excluded")
#: downlink topic kind -> the message type it must carry
TYPES = {"result": "result", "price": "price", "key": "organiser_key"}


class Refused(ValueError):
    """A downlink message the gateway will not act on; `reason` is its counter suffix."""

    def __init__(self, reason, text):
        super().__init__(text)
        self.reason = reason


HEX = "0123456789abcdef"


def _is_hex(v, n):
    return isinstance(v, str) and len(v) == n and all(c in HEX for c in v)


def check_signature(msg, signer, verifier):
    """Refused("forged") unless `msg` carries a valid Ed25519 signature by `signer` (hex).

    `verifier` is an ed25519.Verifier of that key (decoded once per gateway).
    """
    if msg.get("signer") != signer:
        raise Refused("forged", "signer is not the configured edge key")
    sig = msg.get("sig")
    if not _is_hex(sig, 128):
        raise Refused("forged", "sig must be 128 lowercase hex digits")
    body = {}
    for k, v in msg.items():
        if k != "sig":
            body[k] = v
    try:
        data = canonical(body)
    except ValueError as e:  # floats, huge integers: nothing the edge signs
        raise Refused("forged", "not a canonical message: %s" % e)
    if not verifier.verify(data, unhexlify(sig)):
        raise Refused("forged", "Ed25519 signature does not verify")


def check_organiser_key(msg, signer, verifier):
    """(interval, round, pub) of an organiser key announcement (docs/market.md "Sealed bids").

    Verified like every downlink message (Refused "forged"), then its fields
    (Refused "bad"): `pub` 32 bytes in hex, `kid` = sealed.key_id(pub),
    non-negative integer interval and round. A bid is sealed only to a key
    that passed here.
    """
    if not isinstance(msg, dict):
        raise Refused("bad", "not a JSON object")
    check_signature(msg, signer, verifier)
    pub, iv, rnd = msg.get("pub"), msg.get("interval"), msg.get("round")
    if msg.get("type") != "organiser_key":
        raise Refused("bad", "unexpected message type %r" % (msg.get("type"),))
    if not _is_hex(pub, 64):
        raise Refused("bad", "organiser key pub must be 64 lowercase hex digits")
    if not (_is_int(iv) and _is_int(rnd) and iv >= 0 and rnd >= 0):
        raise Refused("bad", "organiser key interval and round must be non-negative integers")
    pub = unhexlify(pub)
    if msg.get("kid") != sealed_key_id(pub):
        raise Refused("bad", "organiser key kid does not name its pub")
    return iv, rnd, pub


def _is_int(v):
    return isinstance(v, int) and not isinstance(v, bool)


def check_header(msg):
    """The signed header of a result frame, before its block is read; ValueError names the
    bad field. The fills are not in it: `fills_n` counts them, `fills_sha256` is the
    SHA-256 of the block (the signature covers the block through it)."""
    _check_fields(msg)
    if "fills" in msg:
        raise ValueError("result header must not carry fills (they come in the block)")


def _check_fields(msg):
    if not _is_int(msg.get("interval")):
        raise ValueError("result interval must be an integer")
    if not _is_int(msg.get("round")) or msg["round"] < 0:
        raise ValueError("result round must be a non-negative integer")
    if not isinstance(msg.get("final"), bool):
        raise ValueError("result final must be true or false")
    if msg.get("price") is not None and not _is_int(msg["price"]):
        raise ValueError("result price must be an integer")
    if not _is_int(msg.get("fills_n")) or msg["fills_n"] < 0:
        raise ValueError("result fills_n must be a non-negative integer")
    if not _is_hex(msg.get("fills_sha256"), 64):
        raise ValueError("result fills_sha256 must be 64 lowercase hex digits")


def check_result(msg):
    """The fields of a clearing result the gateway acts on, its decoded fills included
    (`msg["fills"]`, set from the block); ValueError names the bad one."""
    _check_fields(msg)
    fills = msg.get("fills")
    if not isinstance(fills, list):
        raise ValueError("result fills must be a list")
    if len(fills) != msg["fills_n"]:
        raise ValueError("result has %d fills, its header says %d" % (len(fills), msg["fills_n"]))
    for i, f in enumerate(fills):
        if (not isinstance(f, dict) or not isinstance(f.get("gw"), str)
                or f.get("side") not in ("buy", "sell") or f.get("status") not in STATUSES
                or not _is_int(f.get("qty_wh"))):
            raise ValueError("result fills[%d] malformed" % i)


def split_frame(payload):
    """(header bytes, offset of the block in payload) of a result frame; Refused("bad")
    without the header line. The block stays in payload: a board holds it once."""
    at = payload.find(b"\n")
    if at < 0:
        raise Refused("bad", "a result frame needs its header line, a newline and its fills block")
    return payload[:at], at + 1


def read_block(msg, payload, start):
    """The decoded fills of the block payload[start:] of a verified, checked header.

    The block must be the one the edge signed: its SHA-256 is the header's
    `fills_sha256` and its count the header's `fills_n` (Refused("bad")
    otherwise); then every value is bounded (gateway/fills.py, ValueError).
    """
    got = fills.digest(payload, start)
    if got != msg["fills_sha256"]:
        raise Refused("bad", "fills block SHA-256 %s is not the signed fills_sha256 %s"
                      % (got, msg["fills_sha256"]))
    n = fills.count(payload, start)
    if n != msg["fills_n"]:
        raise Refused("bad", "fills block holds %d fills, the signed fills_n says %d"
                      % (n, msg["fills_n"]))
    return fills.decode(payload, msg["interval"], start)


def check_key(msg):
    """(interval, round, public key bytes) of an organiser key announcement; ValueError names
    the bad field. The kid must be the key's own name, as the edge's bids refer to it."""
    if not _is_int(msg.get("interval")):
        raise ValueError("organiser key interval must be an integer")
    if not _is_int(msg.get("round")) or msg["round"] < 0:
        raise ValueError("organiser key round must be a non-negative integer")
    if not _is_hex(msg.get("pub"), 64):
        raise ValueError("organiser key pub must be 64 lowercase hex digits")
    pub = unhexlify(msg["pub"])
    if msg.get("kid") != sealed.key_id(pub):
        raise ValueError("organiser key kid is not the name of its pub")
    return msg["interval"], msg["round"], pub


ADVICE_KEYS = ("electricity_price", "low", "median", "high")


def check_advice(msg):
    """(low, median, high) of a signal's carbon bid advice, None without one.

    A version this firmware does not know is ignored (None), never refused:
    the rest of the signal still counts. ValueError names the bad field.
    """
    a = msg.get("carbon_bid")
    if a is None:
        return None
    if not isinstance(a, dict):
        raise ValueError("price signal carbon_bid must be an object")
    if a.get("v") != 1:
        return None
    for k in ADVICE_KEYS:
        if not _is_int(a.get(k)) or not 0 <= a[k] <= policy.MAX_PRICE:
            raise ValueError("price signal carbon_bid.%s must be an integer in 0..%d"
                             % (k, policy.MAX_PRICE))
    if not _is_int(a.get("level_pm")) or not 1 <= a["level_pm"] <= 999:
        raise ValueError("price signal carbon_bid.level_pm must be an integer in 1..999")
    if not a["low"] <= a["median"] <= a["high"]:
        raise ValueError("price signal carbon_bid needs low <= median <= high")
    return (a["low"], a["median"], a["high"])


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

    def __init__(self, site, gw, signer):
        self.site, self.gw = site, gw
        self.signer = signer  # the edge's Ed25519 public key, 64 hex digits
        self.verifier = ed25519.Verifier(unhexlify(signer))
        # (valid_from, valid_to, ts, adder, sig, advice) in arrival order
        self.prices = []
        self.results = {}  # interval -> latest result dict
        self.keys = {}  # interval -> (round, organiser public key, kid): the newest announced

    def accept(self, topic, payload, open_interval):
        """A verified, checked message as ("result" | "price" | "key", msg); Refused says why.

        A result comes as a frame (its header line, then the fills block): the
        header is verified and checked first, then the block against it, and the
        decoded rows become msg["fills"], as policy.py and bidding.py read them.
        """
        kind = topics.downlink_kind(self.site, topic)
        header, start = split_frame(payload) if kind == "result" else (payload, None)
        try:
            msg = json.loads(header)
        except ValueError:
            raise Refused("bad", "not JSON")
        if not isinstance(msg, dict):
            raise Refused("bad", "not a JSON object")
        check_signature(msg, self.signer, self.verifier)
        if msg.get("site") != self.site:
            raise Refused("bad", "not for site %s" % self.site)
        if kind is None or msg.get("type") != TYPES[kind]:
            raise Refused("bad", "unexpected message type %r" % (msg.get("type"),))
        try:
            if kind == "price":
                self._price(msg, open_interval)
            elif kind == "key":
                self._key(msg, open_interval)
            else:
                check_header(msg)
                msg["fills"] = read_block(msg, payload, start)
                self._result(msg, open_interval)
        except Refused:
            raise
        except ValueError as e:
            raise Refused("bad", str(e))
        return kind, msg

    def _price(self, msg, open_interval):
        """Keep a price signal for its adder: revisions read published prices with it.

        Signals that ended before the open interval are dropped; beyond
        KEEP_PRICES the oldest by ts goes, the one least likely to count
        (policy.adder_for takes the newest).
        """
        a = check_price(msg, self.gw)
        advice = check_advice(msg)
        lo, hi, ts = msg["valid_from"], msg["valid_to"], msg["ts"]
        if hi <= open_interval:
            raise Refused("stale", "price signal ended at %d, before the open interval" % hi)
        if any(p[4] == msg["sig"] for p in self.prices):
            raise Refused("replay", "price signal already accepted")
        keep = [p for p in self.prices if p[1] > open_interval]
        keep.append((lo, hi, ts, a, msg["sig"], advice))
        while len(keep) > KEEP_PRICES:
            oldest = 0
            for i in range(1, len(keep)):
                if keep[i][2] < keep[oldest][2]:
                    oldest = i
            keep.pop(oldest)
        self.prices = keep
        log("price", valid_from=lo, valid_to=hi, ts=ts, adder=a)

    def _result(self, msg, open_interval):
        check_result(msg)
        iv = msg["interval"]
        if iv < open_interval:
            raise Refused("stale", "result of interval %d, which has ended" % iv)
        old = self.results.get(iv)
        if old is not None and (msg["round"], msg["final"]) <= (old["round"], old["final"]):
            raise Refused("replay", "result of interval %d round %d is not newer than the one kept"
                          % (iv, msg["round"]))
        self.results[iv] = msg
        for k in sorted(self.results)[:-KEEP_RESULTS]:
            del self.results[k]

    def _key(self, msg, open_interval):
        """Keep the organiser key of an interval's newest round: the one bids are sealed to."""
        iv, rnd, pub = check_key(msg)
        if iv < open_interval:
            raise Refused("stale", "organiser key of interval %d, which has ended" % iv)
        old = self.keys.get(iv)
        if old is not None and rnd <= old[0]:
            raise Refused("replay", "organiser key of interval %d round %d is not newer than "
                                    "the one kept" % (iv, rnd))
        self.keys[iv] = (rnd, pub, msg["kid"])
        for k in sorted(self.keys)[:-KEEP_RESULTS]:
            del self.keys[k]
        log("organiser_key", interval=iv, round=rnd, kid=msg["kid"])

    def key_for(self, interval, round_):
        """(organiser public key, kid) announced for (interval, round), or None."""
        k = self.keys.get(interval)
        return (k[1], k[2]) if k is not None and k[0] == round_ else None

    def adder_for(self, interval):
        return policy.adder_for(self.prices, interval)

    def advice_for(self, interval):
        """(low, median, high) carbon bid advice of the signal that counts, or None."""
        return policy.advice_for(self.prices, interval)

    def final_result(self, interval):
        res = self.results.get(interval)
        return res if res and res.get("final") else None
