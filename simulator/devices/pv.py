"""A PV inverter (SunSpec 1 + 103) metering the generation of a meter's PV array.

The connection meter (meter.py) nets load against PV, so its registers show
export, never generation. A PV prosumer's carbon quota is delta x metered
generation (docs/carbon-market.md), so PV sites get this second device on
its own unit id: the inverter of the same array. It does not draw its own
weather: it reads the meter's PV term, the integer W per step that the net
power already subtracts, and integrates it exactly (W x ms = mJ) in the
meter's own update, so the two devices can never disagree about the sun.

Registers: model 103's W (generation, positive) and WH (acc32 lifetime
energy, floor of the mJ total since this inverter's last boot), with fixed
scale factors; the gateway reads them with its existing SunSpec decoding
(kind "pv" books WH deltas as gen_wh).
"""

from __future__ import annotations

from simulator.devices.base import MJ_PER_WH, SimDevice, smallest_sf, split_phases
from simulator.devices.meter import Meter
from simulator.devices.sunspec_map import DeviceLayout, RawValue, to_raw

PV_LAYOUT = DeviceLayout((1, 103))
ST_OFF, ST_MPPT = 1, 4  # model 103 St: I_STATUS_OFF, I_STATUS_MPPT
V_PHASE = 230.0


class PvInverter(SimDevice):
    model_name = "SimPV-3P-103"
    layout = PV_LAYOUT

    def __init__(self, meter: Meter, *, unit: int, serial: str, start_ms: int) -> None:
        super().__init__(serial, unit, start_ms)
        self.meter = meter
        self.base_mj = meter.pv_mj  # what the array made before this inverter's boot
        rating = max(1000, int(1.5 * meter.cfg.pv_kwp * 1000))
        self.rating_w = rating
        self.w_sf = smallest_sf(2 * rating, 32767)
        self.a_sf = smallest_sf(2 * rating / V_PHASE, 32767, lowest=-2)

    def update(self, now_ms: int) -> None:
        self.meter.update(now_ms)  # never backwards: a no-op when the meter is there already
        self.t_ms = max(self.t_ms, now_ms)

    def _reset_counters(self) -> None:
        self.base_mj = self.meter.pv_mj

    def gen_wh(self) -> int:
        return (self.meter.pv_mj - self.base_mj) // MJ_PER_WH

    def snapshot(self) -> dict[str, float | int]:
        return {"t_ms": self.t_ms, "w": self.meter.pv_now_w(), "gen_wh": self.gen_wh(),
                "gen_mj": self.meter.pv_mj - self.base_mj, "boots": self.boots}

    def raw_values(self) -> dict[int, dict[str, RawValue]]:
        w = self.meter.pv_now_w()
        amps = [p / V_PHASE for p in split_phases(w)]
        m103: dict[str, RawValue] = {
            "A": to_raw(sum(amps), self.a_sf, "uint16"),
            "AphA": to_raw(amps[0], self.a_sf, "uint16"),
            "AphB": to_raw(amps[1], self.a_sf, "uint16"),
            "AphC": to_raw(amps[2], self.a_sf, "uint16"),
            "A_SF": self.a_sf,
            "PhVphA": 2300, "PhVphB": 2300, "PhVphC": 2300, "V_SF": -1,
            "W": to_raw(w, self.w_sf, "int16"),
            "W_SF": self.w_sf,
            "Hz": 5000, "Hz_SF": -2,
            "WH": self.gen_wh() % (1 << 32),
            "WH_SF": 0,
            "TmpCab": 350, "Tmp_SF": -1,
            "St": ST_MPPT if w > 0 else ST_OFF,
            "Evt1": 0, "Evt2": 0,
        }
        return {1: self.common_values(), 103: m103}
