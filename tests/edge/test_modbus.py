"""Direct Modbus polling of a SunSpec meter: offsets from pysunspec2, a real pymodbus device."""

from __future__ import annotations

import asyncio
import json
import os

import pytest

from edge.runtime.config import MeterConfig
from edge.runtime.modbus import (
    OFF_EXP,
    OFF_IMP,
    OFF_W,
    OFF_W_SF,
    OFF_WH_SF,
    DecodeError,
    MeterPoller,
    _scaled,
    decode_meter,
)


def test_offsets_are_those_of_the_sunspec_model_files():
    sunspec2 = pytest.importorskip("sunspec2")
    d = os.path.join(os.path.dirname(sunspec2.__file__), "models", "json")
    for mid in (201, 202, 203, 204):
        with open(os.path.join(d, f"model_{mid}.json")) as fh:
            points = json.load(fh)["group"]["points"]
        off, where = 0, {}
        for p in points:
            where[p["name"]] = off
            off += p["size"]
        assert (where["W"], where["W_SF"], where["TotWhExp"], where["TotWhImp"],
                where["TotWh_SF"]) == (OFF_W, OFF_W_SF, OFF_EXP, OFF_IMP, OFF_WH_SF)


def test_scale_factors_in_integers():
    assert _scaled(1234, -1) == 123 and _scaled(1235, -1) == 124 and _scaled(-1235, -1) == -124
    assert _scaled(12, 2) == 1200


def test_decode_quality_flags():
    regs = [0] * 107
    regs[0], regs[1] = 203, 105
    regs[OFF_W], regs[OFF_W_SF] = 1500, 0
    regs[OFF_IMP], regs[OFF_IMP + 1] = 1, 0  # 65536 Wh
    regs[OFF_WH_SF] = 0
    r = decode_meter("m", regs, 5)
    assert (r.q, r.p_w, r.e_imp_wh, r.e_exp_wh) == ("good", 1500, 65536, 0)
    regs[OFF_W] = 0x8000  # "not implemented"
    assert decode_meter("m", regs, 5).q == "invalid"
    regs[OFF_W], regs[OFF_W_SF] = 30000, 3  # 30 MW on a household meter
    assert decode_meter("m", regs, 5, max_w=100_000).q == "invalid"
    with pytest.raises(DecodeError):
        decode_meter("m", [1, 66] + [0] * 105, 5)


def test_polls_a_simulated_meter(device_servers):
    ds = device_servers(meters=1, batteries=0)
    host, port = ds.tcp()
    seen = []
    poller = MeterPoller(MeterConfig(id="feeder", host=host, port=port, unit=1),
                         seen.append, lambda: 42)

    async def once():
        from pymodbus.client import AsyncModbusTcpClient

        c = AsyncModbusTcpClient(host, port=port, timeout=1, retries=0)
        await c.connect()
        try:
            return await poller.poll_once(c)
        finally:
            c.close()

    r = asyncio.run(once())
    phys = ds.physics("bus/1")  # the device's own physics, not moved since the read
    assert r.q == "good" and r.ts == 42
    assert r.p_w == phys["w"]
    assert (r.e_imp_wh, r.e_exp_wh) == (phys["import_wh"], phys["export_wh"])
