"""The register map: layouts from pysunspec2, encoding of every type, round trips."""

from __future__ import annotations

import pytest
from sunspec2 import device as ss_device

from simulator.devices.sunspec_map import (
    BASE_ADDRESS,
    DeviceLayout,
    MapError,
    decode_model,
    decode_point,
    encode_model,
    encode_point,
    from_raw,
    model_def,
    scaled_values,
    to_raw,
)


@pytest.mark.parametrize("model_id", [1, 124, 201, 203, 802])
def test_model_lengths_match_pysunspec2(model_id):
    md = model_def(model_id)
    # pysunspec2 computes the length itself from the same JSON; they must agree
    info = ss_device.get_model_def(model_id)
    total = 0
    for p in info["group"]["points"]:
        total += int(p["size"])
    assert md.length == total - 2
    assert md.points[0].name == "ID" and md.points[1].name == "L"


def test_documented_addresses_are_stable():
    """docs/devices.md promises these addresses to the firmware and the edge poller."""
    meter = DeviceLayout((1, 203))
    assert meter.model_address(1) == 40002
    assert meter.model_address(203) == 40070
    assert meter.point_address(203, "W") == 40070 + 18
    assert meter.point_address(203, "W_SF") == 40092
    assert meter.point_address(203, "TotWhExp") == 40108
    assert meter.point_address(203, "TotWhImp") == 40116
    assert meter.point_address(203, "TotWh_SF") == 40124
    assert meter.end_address == 40177
    battery = DeviceLayout((1, 124, 203))
    assert battery.model_address(124) == 40070
    assert battery.point_address(124, "StorCtl_Mod") == 40075
    assert battery.point_address(124, "ChaState") == 40078
    assert battery.point_address(124, "OutWRte") == 40082
    assert battery.point_address(124, "InWRte") == 40083
    assert battery.model_address(203) == 40096
    assert battery.end_address == 40203


def test_repeating_models_are_refused():
    with pytest.raises(MapError, match="repeating"):
        model_def(160)  # MPPT: a repeating module group


def test_unknown_model_is_refused():
    with pytest.raises(MapError, match="no model 64999"):
        model_def(64999)


@pytest.mark.parametrize(
    "ptype,size,raw,regs",
    [
        ("int16", 1, -5, [0xFFFB]),
        ("int16", 1, None, [0x8000]),
        ("uint16", 1, 65534, [0xFFFE]),
        ("uint16", 1, None, [0xFFFF]),
        ("sunssf", 1, -2, [0xFFFE]),
        ("sunssf", 1, None, [0x8000]),
        ("acc32", 2, 0x12345678, [0x1234, 0x5678]),
        ("acc32", 2, -100, [0xFFFF, 0xFF9C]),  # counters roll over mod 2**32
        ("int32", 2, -2, [0xFFFF, 0xFFFE]),
        ("bitfield32", 2, 4, [0, 4]),
        ("enum16", 1, 6, [6]),
        ("string", 2, "Ab", [0x4162, 0]),
    ],
)
def test_encode_point_each_type(ptype, size, raw, regs):
    from simulator.devices.sunspec_map import PointDef

    p = PointDef(name="X", type=ptype, size=size, offset=2)
    assert encode_point(p, raw) == regs
    back = decode_point(p, regs)
    if raw is None:
        assert back is None
    elif ptype == "acc32":
        assert back == raw % 2**32
    else:
        assert back == raw


def test_encode_refuses_bad_values():
    from simulator.devices.sunspec_map import PointDef

    with pytest.raises(MapError, match="longer than 4 bytes"):
        encode_point(PointDef("S", "string", 2, 2), "toolong")
    with pytest.raises(MapError, match="outside int16"):
        encode_point(PointDef("W", "int16", 1, 2), 70000)
    with pytest.raises(MapError, match="no point"):
        encode_model(model_def(203), {"Watts": 1})


def test_to_raw_rounds_half_away_and_clips():
    assert to_raw(230.25, -1, "int16") == 2303  # 2302.5 -> 2303
    assert to_raw(-230.25, -1, "int16") == -2303
    assert to_raw(12345, 1, "int16") == 1235  # 1234.5 -> 1235
    assert to_raw(1e9, 0, "int16") == 32767
    assert to_raw(-1e9, 0, "int16") == -32767  # never the 0x8000 sentinel
    with pytest.raises(MapError):
        to_raw(1e9, 0, "int16", clip=False)
    assert from_raw(2303, -1) == pytest.approx(230.3)
    assert from_raw(1235, 1) == 12350


def test_model_round_trip_and_scaling():
    md = model_def(203)
    raw = {"W": -1754, "W_SF": 1, "PhVphA": 2302, "V_SF": -1, "TotWhImp": 0, "TotWh_SF": 0}
    regs = encode_model(md, raw)
    assert regs[:2] == [203, 105]
    back = decode_model(md, regs)
    assert back["W"] == -1754 and back["PhVphA"] == 2302
    assert back["TotWhImp"] == 0  # an accumulator at 0 stays 0, not "not implemented"
    assert back["A"] is None  # never set: the int16 sentinel
    phys = scaled_values(md, back)
    assert phys["W"] == -17540
    assert phys["PhVphA"] == pytest.approx(230.2)
    assert "A" not in phys


def test_device_layout_encode_decode():
    layout = DeviceLayout((1, 124, 203))
    regs = layout.encode({1: {"Mn": "M", "SN": "S1"}, 124: {"ChaState": 5000, "ChaState_SF": -2}})
    assert len(regs) == layout.size == layout.end_address + 2 - BASE_ADDRESS
    assert regs[:2] == [0x5375, 0x6E53]
    assert regs[-2:] == [0xFFFF, 0]
    back = layout.decode(regs)
    assert back[1]["SN"] == "S1"
    assert scaled_values(model_def(124), back[124])["ChaState"] == 50.0
    with pytest.raises(MapError, match="SunS"):
        layout.decode([0] + regs[1:])
    assert layout.point_at(40075)[1].name == "StorCtl_Mod"
    assert layout.point_at(40002)[1].name == "ID"
