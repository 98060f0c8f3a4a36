"""One SunSpec scale-factor rule on both sides: tests/vectors/sunspec_scale.json.

The firmware (firmware/gateway/sunspec.py, on the MicroPython unix port) and
the edge's own meter polling (edge/runtime/modbus.py) decode the same
registers to the same integers: value = raw x 10**sf, rounded to nearest
with ties away from zero. The vectors are worked by hand; Python's decimal
module (ROUND_HALF_UP is "half away from zero") checks the file itself.
"""

from __future__ import annotations

import json
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

from edge.runtime.modbus import decode_meter

VECTORS = json.loads((Path(__file__).parents[1] / "vectors" / "sunspec_scale.json").read_text())
ALL = VECTORS["int16"] + VECTORS["acc32"]


def meter_regs(w_raw: int, w_sf: int, wh_raw: int, wh_sf: int) -> list[int]:
    """A SunSpec meter model 203 block (ID register first) with W and TotWhImp set."""
    regs = [0] * 107
    regs[0], regs[1] = 203, 105
    regs[18], regs[22] = w_raw & 0xFFFF, w_sf & 0xFFFF
    regs[46], regs[47] = wh_raw >> 16, wh_raw & 0xFFFF
    regs[54] = wh_sf & 0xFFFF
    return regs


def test_the_vectors_are_half_away_from_zero():
    assert len(VECTORS["int16"]) >= 20 and len(VECTORS["acc32"]) >= 6
    for v in ALL:
        exact = Decimal(v["raw"]).scaleb(v["sf"])
        assert exact == Decimal(v["exact"]), v
        assert int(exact.quantize(Decimal(1), rounding=ROUND_HALF_UP)) == v["expected"], v


def test_edge_decodes_the_vectors():
    for v in VECTORS["int16"]:
        r = decode_meter("m", meter_regs(v["raw"], v["sf"], 0, 0), 0, max_w=10**12)
        assert r.p_w == v["expected"], v
    for v in VECTORS["acc32"]:
        r = decode_meter("m", meter_regs(0, 0, v["raw"], v["sf"]), 0)
        assert r.e_imp_wh == v["expected"], v


def test_firmware_decodes_the_vectors(board):
    int16 = [[v["raw"], v["sf"]] for v in VECTORS["int16"]]
    acc32 = [[v["raw"], v["sf"]] for v in VECTORS["acc32"]]
    code = (
        "import json\nfrom gateway import sunspec\n"
        "def regs(w, wsf, wh, whsf):\n"
        "    r = [0] * 107; r[0] = 203; r[1] = 105\n"
        "    r[18] = w & 0xFFFF; r[22] = wsf & 0xFFFF\n"
        "    r[46] = wh >> 16; r[47] = wh & 0xFFFF; r[54] = whsf & 0xFFFF\n"
        "    return r\n"
        f"i16 = {json.dumps(int16)}\nacc = {json.dumps(acc32)}\n"
        "print(json.dumps({'scale': [sunspec.scale(r, s) for r, s in i16 + acc],"
        " 'w': [sunspec.decode_model(203, regs(r, s, 0, 0))['W'] for r, s in i16],"
        " 'wh': [sunspec.decode_model(203, regs(0, 0, r, s))['TotWhImp'] for r, s in acc]}))"
    )
    got = json.loads(board.run(code).stdout.strip().splitlines()[-1])
    assert got["scale"] == [v["expected"] for v in ALL]
    assert got["w"] == [v["expected"] for v in VECTORS["int16"]]
    assert got["wh"] == [v["expected"] for v in VECTORS["acc32"]]
