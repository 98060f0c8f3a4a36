"""The gateway trusts only what the edge signed: Ed25519 verify on the unix port, and refusals.

Ed25519 (firmware/gateway/ed25519.py, sha512.py) against the RFC 8032 section
7.1 vectors (themselves re-derived here with `cryptography` from the RFC's
secret keys) and against `cryptography` signatures; then a real gateway
process against forged, replayed and stale results and price signals: each
is refused, logged and counted, the counters reach the status message, and
the genuine ones are acted on. Results are frames (signed header line and
fills block) made with the edge's encoder; tests/firmware/test_fills_frame.py
checks the frame's decoder and every bad frame in detail.
"""

from __future__ import annotations

import hashlib
import json
import random

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from tests.kit.firmware import (
    fills_block,
    frame_of,
    gateway_config,
    result_frame,
    result_header,
    run_mp,
    sign_downlink,
)

L = 2**252 + 27742317777372353535851937790883648493

# RFC 8032 section 7.1: TEST 1, 2, 3 (secret key, public key, message, signature)
RFC8032 = [
    ("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
     "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a", "",
     "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bac"
     "c61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b"),
    ("4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
     "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c", "72",
     "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e"
     "458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00"),
    ("c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7",
     "fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025", "af82",
     "6291d657deec24024827e69c3abe01a30ce548a284743a445e3680d7db5ac3ac18ff9b538d16f290"
     "ae67f760984dc6594a7c15e9716ed28dc027beceea1ec40a"),
]


def mp_json(code: str, board=None):
    return json.loads((board.run(code) if board else run_mp(code)).stdout.strip().splitlines()[-1])


def raw_public(k: Ed25519PrivateKey) -> bytes:
    return k.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)


def verify_on_mp(cases: list[tuple[str, str, str]], board=None) -> list[bool]:
    return mp_json(
        "import json\nfrom binascii import unhexlify as u\nfrom gateway.ed25519 import verify\n"
        f"cases = {json.dumps(cases)}\n"
        "print(json.dumps([verify(u(p), u(m), u(s)) for p, m, s in cases]))", board
    )


def test_rfc8032_vectors_are_what_cryptography_makes():
    for sk, pk, msg, sig in RFC8032:
        k = Ed25519PrivateKey.from_private_bytes(bytes.fromhex(sk))
        assert raw_public(k).hex() == pk
        assert k.sign(bytes.fromhex(msg)).hex() == sig


def test_sha512_matches_hashlib_across_block_boundaries():
    rnd = random.Random(11)
    msgs = [bytes(rnd.randrange(256) for _ in range(n)) for n in (0, 1, 111, 112, 128, 129, 300)]
    got = mp_json(
        "import json\nfrom binascii import unhexlify\nfrom gateway.sha512 import sha512\n"
        f"ms = {json.dumps([m.hex() for m in msgs])}\n"
        "print(json.dumps([sha512(unhexlify(m)).hex() for m in ms]))"
    )
    assert got == [hashlib.sha512(m).hexdigest() for m in msgs]


def test_ed25519_verify_accepts_rfc8032_and_cryptography_and_refuses_tampering(board):
    cases = [(pk, msg, sig) for _, pk, msg, sig in RFC8032]
    rnd = random.Random(12)
    k = Ed25519PrivateKey.from_private_bytes(bytes(rnd.randrange(256) for _ in range(32)))
    pub = raw_public(k).hex()
    m = bytes(rnd.randrange(256) for _ in range(200))  # two SHA-512 blocks with R and A
    sig = k.sign(m)
    cases.append((pub, m.hex(), sig.hex()))
    s = int.from_bytes(sig[32:], "little")
    p1, m1, s1 = RFC8032[1][1], RFC8032[1][2], bytes.fromhex(RFC8032[1][3])
    y_not_reduced = (2**255 - 19 + 1).to_bytes(32, "little")  # y = p + 1 (non-canonical 1)
    bad = [
        (pub, m.hex()[:-2] + "00" if m[-1] else m.hex()[:-2] + "01", sig.hex()),  # message
        (pub, m.hex(), (bytes([sig[0] ^ 1]) + sig[1:]).hex()),  # R
        (pub, m.hex(), (sig[:40] + bytes([sig[40] ^ 4]) + sig[41:]).hex()),  # S
        (pub, m.hex(), (sig[:32] + (s + L).to_bytes(32, "little")).hex()),  # S + L >= L
        (p1, m.hex(), sig.hex()),  # another key
        (y_not_reduced.hex(), m1, s1.hex()),  # a public key that is not canonical
        (p1, m1, (y_not_reduced + s1[32:]).hex()),  # an R that is not canonical
        (p1, m1, s1.hex()[:-2]),  # 63 bytes
    ]
    got = verify_on_mp(cases + bad, board)
    assert got == [True] * len(cases) + [False] * len(bad)


def test_gateway_refuses_forged_replayed_and_stale_downlink(broker_factory, firmware_factory,
                                                          collector_factory, board):
    broker = broker_factory()
    col = collector_factory(broker)
    dead_meter = [{"name": "m1", "kind": "meter", "port": 1, "unit": 1, "max_w": 1000}]
    fw = firmware_factory(gateway_config(broker, dead_meter), board=board)
    fw.wait_for("mqtt_connected", timeout=20)
    future = 2**40  # an interval that has not started: results for it are current
    other_seed = bytes(range(100, 132))
    edge_id = gateway_config()["edge_signer"]

    def result(interval: int, rnd: int = 0) -> dict:
        return {"v": 1, "type": "result", "site": "s1", "interval": interval, "round": rnd,
                "final": False, "ts": 5, "volume_wh": 0, "regime": "no_trade", "fills": [
                    {"gw": "gw-01", "side": "sell", "qty_wh": 0, "status": "unfilled",
                     "price": 90000, "seq": 1, "order_wh": 500}]}

    def price(valid_to: int, ts: int = 7) -> dict:
        return {"v": 1, "type": "price", "site": "s1", "valid_from": 0, "valid_to": valid_to,
                "ts": ts, "p_low": 1, "p_high": 2, "intensity_g_kwh": 300,
                "adders": {"gw-01": 1500}}

    def send(topic: str, msg: dict | bytes) -> None:
        col.c.publish(topic, msg if isinstance(msg, bytes) else json.dumps(msg), qos=1)

    res_topic, price_topic = f"site/s1/market/{future}/result", "site/s1/price"
    block = fills_block(result(future)["fills"])
    header = sign_downlink(result_header(result(future), block))
    good_result, good_price = frame_of(header, block), sign_downlink(price(2**41))
    claimed = {**sign_downlink(result_header(result(future, 2), block), other_seed),
               "signer": edge_id}
    forged = [
        (res_topic, result_frame(result(future, 3), other_seed)),  # another key, its own id
        (res_topic, frame_of(claimed, block)),  # another key claiming to be the edge
        (res_topic, frame_of({**header, "round": 1}, block)),  # changed after signing
        (price_topic, {k: v for k, v in good_price.items() if k != "sig"}),  # unsigned
        (price_topic, {**good_price, "sig": "zz" * 64}),  # not hex
    ]
    for topic, msg in forged:
        send(topic, msg)
    send(res_topic, good_result)
    send(price_topic, good_price)
    send(res_topic, good_result)  # replayed
    send(price_topic, good_price)  # replayed
    # bad frames, each signed by the edge where it has a header: counted as rx_bad
    send(res_topic, frame_of(header, b""))  # the block cut off
    send(res_topic, json.dumps(header).encode())  # the header alone, no newline
    send(res_topic, result_frame(result(future, 4), block=block[:-1]))  # signed, but torn
    send("site/s1/market/0/result", result_frame(result(0, 9)))  # an interval long over
    send(price_topic, sign_downlink(price(1000, ts=99)))  # valid until 1970
    fw.wait_for("rx_stale", count=2, timeout=20)
    msgs = {ev: [e["msg"] for e in fw.events(ev)]
            for ev in ("rx_forged", "rx_replay", "rx_stale", "rx_bad")}
    assert msgs["rx_forged"] == [
        "signer is not the configured edge key", "Ed25519 signature does not verify",
        "Ed25519 signature does not verify", "sig must be 128 lowercase hex digits",
        "sig must be 128 lowercase hex digits"]
    assert msgs["rx_replay"] == [
        f"result of interval {future} round 0 is not newer than the one kept",
        "price signal already accepted"]
    assert msgs["rx_stale"] == ["result of interval 0, which has ended",
                                "price signal ended at 1000, before the open interval"]
    assert msgs["rx_bad"] == [
        f"fills block SHA-256 {hashlib.sha256(b'').hexdigest()} is not the signed fills_sha256 "
        f"{hashlib.sha256(block).hexdigest()}",
        "a result frame needs its header line, a newline and its fills block",
        "fill 0: id is not 1 to 32 characters ended by a newline"]
    # the genuine ones are acted on: the price signal is kept with its adder
    assert [(e["adder"], e["ts"]) for e in fw.events("price")] == [(1500, 7)]
    # a new session's birth carries the counters
    broker.stop()
    fw.wait_for("mqtt_lost", timeout=20)
    broker.start()
    fw.wait_for("mqtt_connected", count=2, timeout=30)

    def births(c):
        return [m for m in c.messages("status") if m["state"] == "online"]

    col.wait(lambda c: len(births(c)) >= 1 and any(
        "rx_forged" in b.get("counters", {}) for b in births(c)), 30, "a birth with counters")
    counters = [b for b in births(col) if "rx_forged" in b.get("counters", {})][-1]["counters"]
    assert {k: counters.get(k) for k in ("rx_forged", "rx_replay", "rx_stale", "rx_bad",
                                          "rx_result", "rx_price")} == {
        "rx_forged": 5, "rx_replay": 2, "rx_stale": 2, "rx_bad": 3, "rx_result": 1,
        "rx_price": 1}
    assert fw.alive


def is_curve_y(y: int) -> bool:
    """Independent check (CPython, Euler's criterion): some x has -x^2 + y^2 = 1 + d x^2 y^2."""
    p = 2**255 - 19
    d = -121665 * pow(121666, p - 2, p) % p
    x2 = (y * y - 1) * pow(d * y * y + 1, p - 2, p) % p
    return y < p and (x2 == 0 or pow(x2, (p - 1) // 2, p) == 1)


def test_edge_signer_is_required_and_must_be_a_curve_point():
    base = {"site": "s1", "gw": "g", "key_hex": "00" * 32,
            "devices": [{"name": "m", "kind": "meter", "port": 502, "unit": 1, "max_w": 1}]}
    assert not is_curve_y(2) and not is_curve_y(2**255 - 1) and is_curve_y(0)
    cases = ["", "AB" * 32, "ab" * 31, "02" + "00" * 31, "ff" * 32, "00" * 32,
             RFC8032[0][1]]  # the last one is a real public key; "" means: not given
    got = mp_json(
        "import json\nfrom gateway import config\nout = []\n"
        f"base = json.loads({json.dumps(json.dumps(base))})\n"
        f"for k in {cases!r}:\n"
        "    c = dict(base)\n"
        "    if k:\n"
        "        c['edge_signer'] = k\n"
        "    try:\n"
        "        out.append(config.check(c)['edge_signer'])\n"
        "    except config.ConfigError as e:\n"
        "        out.append(str(e))\n"
        "print(json.dumps(out))"
    )
    hex_msg = "edge_signer: expected 64 lowercase hex digits (the edge's Ed25519 public key)"
    point_msg = "edge_signer: not an Ed25519 public key (no curve point)"
    assert got == ["edge_signer: missing", hex_msg, hex_msg, point_msg, point_msg, "00" * 32,
                   RFC8032[0][1]]
