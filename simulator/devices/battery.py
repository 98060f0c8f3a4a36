"""A battery behind its own AC meter: SunSpec 1 + 124 (basic storage) + 203.

Model 124 carries the control points and the state of charge; model 124 has
no power or energy points, so the battery's AC terminals are measured by a
model 203 block, decoded exactly like a customer meter (W > 0 = charging =
import; TotWhImp = energy charged, TotWhExp = energy discharged).

Control (our reading of model 124, written down in docs/devices.md):
the power setpoint, positive = charge, is

    (InWRte % of WChaMax if StorCtl_Mod bit 0 CHARGE is set, else 0)
  - (OutWRte % of WChaMax if StorCtl_Mod bit 1 DiSCHARGE is set, else 0)

limited to the hardware's max charge / discharge power and WChaMax, and to 0
at the SOC bounds: charging stops at soc_max, discharging at
max(soc_min, MinRsvPct). With InOutWRte_RvrtTms > 0 every control write arms
a timer; when it runs out StorCtl_Mod returns to 0 (idle), so a gateway that
dies does not leave the battery running.

Efficiency is split evenly: each direction loses sqrt(round trip). The
stored energy is an integer in mJ: charging adds floor(AC x leg), discharging
removes ceil(AC / leg), with leg the one-way efficiency in parts per million.
"""

from __future__ import annotations

import math

from simulator.devices.base import MJ_PER_WH, SimDevice, WriteRejected, smallest_sf, split_phases
from simulator.devices.config import BatteryConfig
from simulator.devices.sunspec_map import DeviceLayout, RawValue, to_raw

BATTERY_LAYOUT = DeviceLayout((1, 124, 203))

CHARGE_BIT = 1 << 0
DISCHARGE_BIT = 1 << 1
PCT_SF = -2  # InWRte, OutWRte, MinRsvPct, ChaState: hundredths of a percent
PPM = 1_000_000

# model 124 ChaSt symbols
CHAST_EMPTY, CHAST_DISCHARGING, CHAST_CHARGING, CHAST_FULL, CHAST_HOLDING = 2, 3, 4, 5, 6


class Battery(SimDevice):
    model_name = "SimBattery-124"
    layout = BATTERY_LAYOUT
    WRITABLE = {
        124: frozenset(
            {"WChaMax", "StorCtl_Mod", "MinRsvPct", "OutWRte", "InWRte", "InOutWRte_RvrtTms"}
        )
    }

    def __init__(self, cfg: BatteryConfig, *, serial: str, start_ms: int) -> None:
        super().__init__(serial, cfg.unit, start_ms)
        self.cfg = cfg
        self.capacity_mj = cfg.capacity_wh * MJ_PER_WH
        self.leg_ppm = round(math.sqrt(cfg.round_trip_efficiency) * PPM)
        self.soc_min_bp = round(cfg.soc_min_pct * 100)  # basis points
        self.soc_max_bp = round(cfg.soc_max_pct * 100)
        self.stored_mj = self.capacity_mj * round(cfg.soc_init_pct * 100) // 10_000
        self.imp_mj = 0  # AC energy charged
        self.exp_mj = 0  # AC energy discharged
        self.power_w = 0
        self.wcha_sf = smallest_sf(max(cfg.max_charge_w, cfg.max_discharge_w), 65534)
        self.aval_sf = smallest_sf(cfg.capacity_wh, 65534)
        self.w_sf = smallest_sf(2 * max(cfg.max_charge_w, cfg.max_discharge_w), 32767)
        # control state, kept as the raw register values a client wrote
        self.stor_ctl_mod = 0
        self.in_rte = 0
        self.out_rte = 0
        self.wcha_max_raw = to_raw(cfg.max_charge_w, self.wcha_sf, "uint16")
        self.min_rsv_raw = self.soc_min_bp
        self.rvrt_tms = 0
        self.revert_at_ms: int | None = None

    # ------------------------------------------------------------ limits
    @property
    def wcha_max_w(self) -> int:
        return self.wcha_max_raw * 10**self.wcha_sf

    @property
    def upper_mj(self) -> int:
        return self.capacity_mj * self.soc_max_bp // 10_000

    @property
    def lower_mj(self) -> int:
        return self.capacity_mj * max(self.soc_min_bp, self.min_rsv_raw) // 10_000

    def setpoint_w(self) -> int:
        """The commanded power (positive = charge) before SOC limits."""
        w = 0
        if self.stor_ctl_mod & CHARGE_BIT:
            w += _pct_of(self.in_rte, self.wcha_max_w)
        if self.stor_ctl_mod & DISCHARGE_BIT:
            w -= _pct_of(self.out_rte, self.wcha_max_w)
        return max(-self.cfg.max_discharge_w, min(w, self.cfg.max_charge_w, self.wcha_max_w))

    def feasible_w(self) -> int:
        """The setpoint, or 0 where a SOC bound stops it."""
        w = self.setpoint_w()
        if w > 0 and self.stored_mj >= self.upper_mj:
            return 0
        if w < 0 and self.stored_mj <= self.lower_mj:
            return 0
        return w

    # ------------------------------------------------------------ physics
    def update(self, now_ms: int) -> None:
        while self.t_ms < now_ms:
            if self.revert_at_ms is not None and self.revert_at_ms <= self.t_ms:
                self.stor_ctl_mod = 0
                self.revert_at_ms = None
            end = now_ms if self.revert_at_ms is None else min(now_ms, self.revert_at_ms)
            dt = end - self.t_ms
            p = self.feasible_w()
            if p > 0:
                room = self.upper_mj - self.stored_mj
                dt = min(dt, -(-room * PPM // (p * self.leg_ppm)))
                ac = p * dt
                self.stored_mj = min(self.upper_mj, self.stored_mj + ac * self.leg_ppm // PPM)
                self.imp_mj += ac
            elif p < 0:
                room = self.stored_mj - self.lower_mj
                dt = min(dt, -(-room * self.leg_ppm // (-p * PPM)))
                ac = -p * dt
                self.stored_mj = max(self.lower_mj, self.stored_mj - (-(-ac * PPM // self.leg_ppm)))
                self.exp_mj += ac
            self.t_ms += dt
        if self.revert_at_ms is not None and self.revert_at_ms <= self.t_ms:
            self.stor_ctl_mod = 0
            self.revert_at_ms = None
        self.power_w = self.feasible_w()

    def _reset_counters(self) -> None:
        self.imp_mj = 0
        self.exp_mj = 0

    def reboot(self, now_ms: int) -> None:
        """Counters restart at 0 and control returns to idle; the charge stays."""
        super().reboot(now_ms)
        self.stor_ctl_mod = 0
        self.revert_at_ms = None
        self.power_w = 0

    def soc_pct(self) -> float:
        return 100.0 * self.stored_mj / self.capacity_mj

    def charge_state(self) -> int:
        if self.power_w > 0:
            return CHAST_CHARGING
        if self.power_w < 0:
            return CHAST_DISCHARGING
        if self.stored_mj >= self.upper_mj:
            return CHAST_FULL
        if self.stored_mj <= self.lower_mj:
            return CHAST_EMPTY
        return CHAST_HOLDING

    def snapshot(self) -> dict[str, float | int]:
        return {
            "t_ms": self.t_ms,
            "w": self.power_w,
            "setpoint_w": self.setpoint_w(),
            "soc_pct": self.soc_pct(),
            "stored_mj": self.stored_mj,
            "import_wh": self.imp_mj // MJ_PER_WH,
            "export_wh": self.exp_mj // MJ_PER_WH,
            "import_mj": self.imp_mj,
            "export_mj": self.exp_mj,
            "stor_ctl_mod": self.stor_ctl_mod,
            "boots": self.boots,
        }

    # ------------------------------------------------------------ control
    def write(self, model_id: int, values: dict[str, int], now_ms: int) -> None:
        allowed = self.writable_points().get(model_id, set())
        for name, raw in values.items():
            if name not in allowed:
                raise WriteRejected(name, "not writable on this device")
            _check_write(self, name, raw)
        self.update(now_ms)  # the old setpoint holds until this instant
        for name, raw in values.items():
            if name == "StorCtl_Mod":
                self.stor_ctl_mod = raw
            elif name == "InWRte":
                self.in_rte = raw
            elif name == "OutWRte":
                self.out_rte = raw
            elif name == "WChaMax":
                self.wcha_max_raw = raw
            elif name == "MinRsvPct":
                self.min_rsv_raw = raw
            elif name == "InOutWRte_RvrtTms":
                self.rvrt_tms = raw
        if values.keys() & {"StorCtl_Mod", "InWRte", "OutWRte"}:
            self.revert_at_ms = now_ms + self.rvrt_tms * 1000 if self.rvrt_tms else None
        self.power_w = self.feasible_w()

    # ------------------------------------------------------------ registers
    def raw_values(self) -> dict[int, dict[str, RawValue]]:
        cfg = self.cfg
        soc = self.soc_pct()
        avail_wh = max(0, self.stored_mj - self.lower_mj) / MJ_PER_WH
        m124: dict[str, RawValue] = {
            "WChaMax": self.wcha_max_raw,
            "WChaGra": 100,
            "WDisChaGra": 100,
            "StorCtl_Mod": self.stor_ctl_mod,
            "MinRsvPct": self.min_rsv_raw,
            "ChaState": to_raw(soc, PCT_SF, "uint16"),
            "StorAval": to_raw(avail_wh, self.aval_sf, "uint16"),
            "InBatV": to_raw(cfg.nominal_v * (0.92 + 0.0016 * soc), -1, "uint16"),
            "ChaSt": self.charge_state(),
            "OutWRte": self.out_rte,
            "InWRte": self.in_rte,
            "InOutWRte_RvrtTms": self.rvrt_tms,
            "WChaMax_SF": self.wcha_sf,
            "WChaDisChaGra_SF": 0,
            "MinRsvPct_SF": PCT_SF,
            "ChaState_SF": PCT_SF,
            "StorAval_SF": self.aval_sf,
            "InBatV_SF": -1,
            "InOutWRte_SF": PCT_SF,
        }
        w = self.power_w
        ph = split_phases(w)
        amps = [abs(p) / 230.0 for p in ph]
        a_sf = smallest_sf(2 * max(cfg.max_charge_w, cfg.max_discharge_w) / 230.0, 32767, -2)
        m203: dict[str, RawValue] = {
            "A": to_raw(sum(amps), a_sf, "int16"),
            "AphA": to_raw(amps[0], a_sf, "int16"),
            "AphB": to_raw(amps[1], a_sf, "int16"),
            "AphC": to_raw(amps[2], a_sf, "int16"),
            "A_SF": a_sf,
            "PhV": 2300,
            "PhVphA": 2300,
            "PhVphB": 2300,
            "PhVphC": 2300,
            "PPV": 3984,
            "PhVphAB": 3984,
            "PhVphBC": 3984,
            "PhVphCA": 3984,
            "V_SF": -1,
            "Hz": 5000,
            "Hz_SF": -2,
            "W": to_raw(w, self.w_sf, "int16"),
            "WphA": to_raw(ph[0], self.w_sf, "int16"),
            "WphB": to_raw(ph[1], self.w_sf, "int16"),
            "WphC": to_raw(ph[2], self.w_sf, "int16"),
            "W_SF": self.w_sf,
            "VA": to_raw(abs(w), self.w_sf, "int16"),
            "VA_SF": self.w_sf,
            "VAR": 0,
            "VAR_SF": 0,
            "PF": 1000 if w >= 0 else -1000,
            "PF_SF": -1,
            "TotWhExp": self.exp_mj // MJ_PER_WH,
            "TotWhImp": self.imp_mj // MJ_PER_WH,
            "TotWh_SF": 0,
            "Evt": self.event_bits(),
        }
        return {1: self.common_values(), 124: m124, 203: m203}


def _pct_of(raw_pct: int, base_w: int) -> int:
    """raw (hundredths of a percent) of base_w, truncated toward zero, in integers."""
    q = abs(raw_pct) * base_w // 10_000
    return q if raw_pct >= 0 else -q


def _check_write(b: Battery, name: str, raw: int) -> None:
    """Refuse a value with a reason that names the point; nothing is applied on refusal."""
    if name == "StorCtl_Mod":
        if raw & ~(CHARGE_BIT | DISCHARGE_BIT):
            raise WriteRejected(name, f"0x{raw:04x} sets bits other than 0 CHARGE and 1 DiSCHARGE")
    elif name in ("InWRte", "OutWRte"):
        if not -10_000 <= raw <= 10_000:
            raise WriteRejected(name, f"{raw / 100:.2f} % is outside -100..100 %")
    elif name == "WChaMax":
        w = raw * 10**b.wcha_sf
        if not 0 < w <= b.cfg.max_charge_w:
            raise WriteRejected(name, f"{w} W is outside 1..{b.cfg.max_charge_w} W")
    elif name == "MinRsvPct":
        if not 0 <= raw < b.soc_max_bp:
            raise WriteRejected(
                name, f"{raw / 100:.2f} % is outside 0..{b.soc_max_bp / 100:.2f} % (soc_max)"
            )
    elif name == "InOutWRte_RvrtTms":
        if not 0 <= raw <= 0xFFFE:
            raise WriteRejected(name, f"{raw} s is not a uint16 time")
