"""Pure firmware pieces, run on the MicroPython unix port and checked against references.

Canonical encoder vs the shared protocol vectors and CPython's json; HMAC vs
RFC 4231 and CPython's hmac; CRC-16 and RTU framing vs the Modbus
specification examples and pymodbus; SunSpec scale factors; MQTT packets.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import random
from pathlib import Path

from edge.protocol.canonical import canonical
from tests.kit.firmware import run_mp

VECTORS = json.loads((Path(__file__).parents[1] / "vectors" / "protocol.json").read_text())


def mp_json(code: str, board=None):
    """Run code that prints one JSON document last (on `board`, if given); return it."""
    out = (board.run(code) if board else run_mp(code)).stdout.strip().splitlines()
    return json.loads(out[-1])


def test_canonical_matches_shared_vectors(board):
    cases = [v["message"] for v in VECTORS["vectors"]] + [
        c["value"] for c in VECTORS["canonical_only"]
    ]
    expected = [v["canonical_without_tag"] for v in VECTORS["vectors"]] + [
        c["canonical"] for c in VECTORS["canonical_only"]
    ]
    got = mp_json(
        "import json\nfrom gateway.canon import canonical\n"
        f"cases = json.loads({json.dumps(json.dumps(cases))})\n"
        "print(json.dumps([canonical(c).decode() for c in cases]))", board
    )
    assert got == expected
    assert len(got) >= 5


def test_canonical_matches_cpython_on_awkward_strings():
    rnd = random.Random(5)
    alphabet = ['"', "\\", "\n", "\t", "\x00", "\x1f", "\x7f", "é", "€", "😀", "a", "Z", " ", "/"]
    values = []
    for _ in range(40):
        s = "".join(rnd.choice(alphabet) for _ in range(rnd.randint(0, 12)))
        values.append({s: [s, rnd.randint(-(2**62), 2**62), True, None], "k" + s: {}})
    # MicroPython's json.loads handles \\u escapes, so send the values escaped
    payload = json.dumps(values)
    got = mp_json(
        "import json\nfrom gateway.canon import canonical\n"
        f"vals = json.loads({json.dumps(payload)})\n"
        "print(json.dumps([canonical(v).decode() for v in vals]))"
    )
    assert got == [canonical(v).decode() for v in values]


def test_canonical_refuses_floats_and_big_ints():
    got = mp_json(
        "import json\nfrom gateway.canon import canonical\nout = []\n"
        "for v in ({'a': 1.5}, [1 << 63], {1: 2}, {'b': [-(1 << 63)]}):\n"
        "    try:\n        out.append(canonical(v).decode())\n"
        "    except ValueError as e:\n        out.append('ERR ' + str(e))\n"
        "print(json.dumps(out))"
    )
    assert got[0] == "ERR float at a: use integer units"
    assert got[1].startswith("ERR integer out of 64-bit range")
    assert got[2].startswith("ERR non-string key")
    assert got[3] == '{"b":[-9223372036854775808]}'


RFC4231 = [
    (b"\x0b" * 20, b"Hi There",
     "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"),
    (b"Jefe", b"what do ya want for nothing?",
     "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"),
    (b"\xaa" * 20, b"\xdd" * 50,
     "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe"),
    (bytes(range(1, 26)), b"\xcd" * 50,
     "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b"),
    (b"\x0c" * 20, b"Test With Truncation", "a3b6167473100ee06e0c796c2955552b"),
    (b"\xaa" * 131, b"Test Using Larger Than Block-Size Key - Hash Key First",
     "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"),
    (b"\xaa" * 131,
     b"This is a test using a larger than block-size key and a larger than block-size data. "
     b"The key needs to be hashed before being used by the HMAC algorithm.",
     "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2"),
]


def test_hmac_rfc4231_and_cpython():
    rnd = random.Random(7)
    cases = [(k.hex(), m.hex()) for k, m, _ in RFC4231]
    extra = [(os.urandom(rnd.choice([0, 1, 32, 63, 64, 65, 200])).hex(),
              os.urandom(rnd.randint(0, 300)).hex()) for _ in range(20)]
    got = mp_json(
        "import json\nfrom binascii import unhexlify\nfrom gateway.hmac256 import HMAC\n"
        f"cases = json.loads({json.dumps(json.dumps(cases + extra))})\n"
        "print(json.dumps([HMAC(unhexlify(k)).hexdigest(unhexlify(m)) for k, m in cases]))"
    )
    for (_, _, want), have in zip(RFC4231, got[: len(RFC4231)], strict=True):
        assert have[: len(want)] == want
    for (k, m), have in zip(extra, got[len(RFC4231):], strict=True):
        assert have == hmac.new(bytes.fromhex(k), bytes.fromhex(m), hashlib.sha256).hexdigest()


def test_tag_matches_shared_vector(board):
    v = VECTORS["vectors"][0]
    got = mp_json(
        "import json\nfrom binascii import unhexlify\nfrom gateway.hmac256 import HMAC\n"
        "from gateway.messages import seal\n"
        f"m = json.loads({json.dumps(json.dumps(v['message']))})\n"
        f"print(json.dumps(seal(m, HMAC(unhexlify('{VECTORS['key_hex']}'))).decode()))", board
    )
    assert got == v["wire"]
    assert json.loads(got)["tag"] == v["tag"]


def test_crc_and_rtu_frames_from_the_specification():
    from pymodbus.framer.rtu import FramerRTU

    got = mp_json(
        "import json\nfrom gateway import rtu, modbus\n"
        "req = rtu.frame(0x11, modbus.read_holding_request(0x006B, 3))\n"
        "resp = bytes([0x11,3,6,0xAE,0x41,0x56,0x52,0x43,0x40,0x49,0xAD])\n"
        "regs = modbus.parse_response(modbus.read_holding_request(0x6B, 3),"
        " rtu.unframe(0x11, resp))\n"
        "bad = resp[:-1] + bytes([resp[-1] ^ 1])\n"
        "try:\n    rtu.unframe(0x11, bad); crc_err = None\n"
        "except modbus.ModbusCrcError as e:\n    crc_err = e.kind\n"
        "try:\n    modbus.parse_response(modbus.read_holding_request(0x6B, 3),"
        " rtu.unframe(0x11, rtu.frame(0x11, bytes([0x83, 2])))); exc = None\n"
        "except modbus.ModbusException as e:\n    exc = [e.kind, e.code, str(e)]\n"
        "print(json.dumps({'req': req.hex(), 'regs': regs, 'crc0207': rtu.crc16(b'\\x02\\x07'),"
        " 'crc_err': crc_err, 'exc': exc, 't35_9600': rtu.t35_us(9600),"
        " 't35_115200': rtu.t35_us(115200),"
        " 'w': rtu.frame(1, modbus.write_multiple_request(0x0001, [0x000A, 0x0102])).hex()}))"
    )
    # Modbus Application Protocol 1.1b3 6.3 / Modicon PI-MBUS-300: read 3 registers at 107
    assert got["req"] == "1103006b00037687"
    assert got["regs"] == [0xAE41, 0x5652, 0x4340]
    # Modbus over Serial Line 1.02 appendix B: CRC of 02 07 is 0x1241 (sent 41 12)
    assert got["crc0207"] == 0x1241
    assert got["crc_err"] == "crc"
    assert got["exc"][:2] == ["exception", 2] and "illegal data address" in got["exc"][2]
    assert got["t35_9600"] == 4011  # 3.5 x 11 bits at 9600 baud
    assert got["t35_115200"] == 1750  # fixed above 19200 baud
    # the write-multiple example of the application protocol spec, framed; CRC as pymodbus has it
    w = bytes.fromhex(got["w"])
    assert w[:-2].hex() == "011000010002040" "00a0102"
    # pymodbus gives the CRC as the big-endian value of the two bytes on the wire
    assert int.from_bytes(w[-2:], "big") == FramerRTU.compute_CRC(w[:-2])


def test_crc_matches_pymodbus_on_random_frames():
    from pymodbus.framer.rtu import FramerRTU

    rnd = random.Random(3)
    frames = [bytes(rnd.randrange(256) for _ in range(rnd.randint(1, 80))) for _ in range(50)]
    got = mp_json(
        "import json\nfrom binascii import unhexlify\nfrom gateway.rtu import crc16\n"
        f"fs = {json.dumps([f.hex() for f in frames])}\n"
        "print(json.dumps([crc16(unhexlify(f)) for f in fs]))"
    )
    assert got == [int.from_bytes(FramerRTU.compute_CRC(f).to_bytes(2, "big"), "little")
                   for f in frames]


def test_sunspec_scale_factors_in_integers():
    got = mp_json(
        "import json\nfrom gateway import sunspec\n"
        "regs = [0] * 107\nregs[0] = 203; regs[1] = 105\n"
        "regs[18] = (-1520) & 0xFFFF; regs[22] = 0\n"
        "regs[38] = 0x0001; regs[39] = 0x0002\n"  # TotWhExp raw 65538
        "regs[46] = 0; regs[47] = 12345\n"
        "regs[54] = (-1) & 0xFFFF\n"  # TotWh_SF = -1
        "a = sunspec.decode_model(203, regs)\n"
        "regs[22] = 0x8000\n"  # W_SF not implemented -> no W
        "b = sunspec.decode_model(203, regs)\n"
        "s = [0] * 26; s[0] = 124; s[1] = 24; s[8] = 5234; s[22] = (-2) & 0xFFFF\n"
        "s[2] = 50; s[18] = 2; s[25] = (-2) & 0xFFFF\n"
        "c = sunspec.decode_model(124, s)\n"
        "print(json.dumps([a, b, c, sunspec.scale(-1525, -1), sunspec.unscale(1234, 1)]))"
    )
    a, b, c, neg, uns = got
    assert a == {"W": -1520, "TotWhExp": 6554, "TotWhImp": 1235}  # 6553.8 and 1234.5
    assert "W" not in b
    assert c["ChaState"] == 523  # 52.34 % -> 523 per mille
    assert c["WChaMax"] == 5000
    assert neg == -153  # -152.5: half away from zero
    assert uns == 123


def test_mqtt_packets():
    got = mp_json(
        "import json\nfrom gateway import mqtt\n"
        "print(json.dumps([mqtt.varlen(n).hex() for n in (0, 127, 128, 16383, 16384, 268435455)]"
        " + [mqtt.connect_packet('gw', 30, True, ('t', b'x', 1, True)).hex(),"
        " mqtt.publish_packet('a/b', b'hi', 1, True, 10).hex(),"
        " list(mqtt.parse_publish(0x33, mqtt.publish_packet('a/b', b'hi', 1, True, 10)[2:])[:1])]))"
    )
    assert got[:6] == ["00", "7f", "8001", "ff7f", "808001", "ffffff7f"]
    # CONNECT: protocol MQTT level 4, flags clean|will|qos1|retain = 0x2e, keepalive 30
    want = "1014" + "00044d515454" + "04" + "2e" + "001e" + "00026777" + "000174" + "000178"
    assert got[6] == want
    assert got[7] == "3309" + "0003612f62" + "000a" + "6869"
    assert got[8] == ["a/b"]


def test_clock_anchored_to_a_wall_time_agrees_with_a_late_boot():
    # a clock that should have read 1,000,000 ms two seconds of wall time ago, at 100x,
    # reads about 1,000,000 + 2,000 x 100 now, whenever the process actually booted
    out = mp_json(
        "import json\nfrom gateway.clock import Clock, epoch_ms\n"
        "c = Clock(100, 1000000, epoch_ms() - 2000)\n"
        "late = Clock(100, 1000000)\n"
        "print(json.dumps([c.now_ms(), late.now_ms()]))\n")
    anchored, unanchored = out
    assert 1_000_000 + 2_000 * 100 <= anchored < 1_000_000 + 2_500 * 100
    assert 1_000_000 <= unanchored < 1_000_000 + 500 * 100
