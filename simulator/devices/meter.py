"""A three-phase wye meter (SunSpec 1 + 203) at a customer with load and PV.

Power is piecewise constant on a fixed grid of ``step_s`` seconds. The grid
values come from seeded generators drawn forward in blocks, so step k has the
same value however the caller chunks time; energy is integrated exactly in
integers (W x ms = mJ) and the Wh counters are floors of the mJ totals, so
they are monotonic and independent of the polling pattern.

Sign convention (SunSpec meters): positive W is import (the customer draws
from the grid), negative W is export.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from simulator import profiles
from simulator.devices.base import MJ_PER_WH, SimDevice, smallest_sf
from simulator.devices.config import MeterConfig
from simulator.devices.sunspec_map import DeviceLayout, RawValue, to_raw

BLOCK_STEPS = 720  # one block of the grid drawn at a time (1 h at 5 s)
METER_LAYOUT = DeviceLayout((1, 203))

V_NOMINAL = 230.0
V_SIGMA = 1.5
HZ_NOMINAL = 50.0
HZ_SIGMA = 0.02
CLOUD_TAU_S = 1200.0


@dataclass
class _Block:
    k0: int  # first step index
    net_w: np.ndarray  # int64 per step, import positive
    phase_w: np.ndarray  # int64 (3, n), sums to net_w
    load_w: np.ndarray  # float
    pv_w: np.ndarray  # float
    pv_int_w: np.ndarray  # int64: the PV term of net_w, what the inverter meters
    volts: np.ndarray  # float (3, n)
    hz: np.ndarray  # float


class Meter(SimDevice):
    model_name = "SimMeter-3P-203"
    layout = METER_LAYOUT

    def __init__(
        self,
        cfg: MeterConfig,
        seeds: np.random.SeedSequence,
        *,
        serial: str,
        start_ms: int,
        step_s: int,
        latitude: float,
    ) -> None:
        super().__init__(serial, cfg.unit, start_ms)
        self.cfg = cfg
        self.start_ms = start_ms
        self.step_ms = step_s * 1000
        self.latitude = latitude
        load_rng, cloud_rng, grid_rng = (np.random.default_rng(s) for s in seeds.spawn(3))
        sigma, tau = profiles.LOAD_NOISE[cfg.load]
        self._load_sigma = sigma
        self._load_noise = profiles.Ar1(load_rng, step_s, tau)
        self._clouds = profiles.Ar1(cloud_rng, step_s, CLOUD_TAU_S)
        self._grid_rng = grid_rng
        self._blocks: dict[int, _Block] = {}
        self._next_block = 0
        # energy in mJ per phase: exact integers
        self.imp_mj = [0, 0, 0]
        self.exp_mj = [0, 0, 0]
        # PV generation in mJ since start: the inverter's register (simulator.devices.pv); a
        # meter reboot does not touch it (the inverter is its own device)
        self.pv_mj = 0
        rating = cfg.effective_rating_w()
        self.rating_w = rating
        self.sf = {
            "W_SF": smallest_sf(2 * rating, 32767),
            "A_SF": smallest_sf(2 * rating / V_NOMINAL, 32767, lowest=-2),
            "V_SF": -1,
            "Hz_SF": -2,
            "PF_SF": -1,
            "TotWh_SF": 0,
        }
        self.sf["VA_SF"] = self.sf["VAR_SF"] = self.sf["W_SF"]
        self._tan_phi = math.tan(math.acos(cfg.power_factor))

    # ------------------------------------------------------------ grid
    def _make_block(self, j: int) -> _Block:
        n = BLOCK_STEPS
        k0 = j * n
        t = self.start_ms + (k0 + np.arange(n, dtype=np.int64)) * self.step_ms
        cfg = self.cfg
        noise = self._load_noise.next(n)
        clouds = self._clouds.next(n)
        volts = V_NOMINAL + V_SIGMA * self._grid_rng.standard_normal((3, n))
        hz = HZ_NOMINAL + HZ_SIGMA * self._grid_rng.standard_normal(n)
        load = cfg.load_peak_w * profiles.load_fraction(cfg.load, t)
        load = load * np.maximum(0.0, 1.0 + self._load_sigma * noise)
        pv = profiles.pv_clear_sky_w(cfg.pv_kwp, self.latitude, t)
        pv = pv * profiles.cloud_index(clouds, cfg.cloudiness)
        pv_int = np.rint(pv).astype(np.int64)
        net = np.rint(load).astype(np.int64) - pv_int
        q = np.trunc(net / 3).astype(np.int64)
        phase = np.vstack([net - 2 * q, q, q])
        return _Block(k0, net, phase, load, pv, pv_int, volts, hz)

    def _block(self, j: int) -> _Block:
        while self._next_block <= j:
            self._blocks[self._next_block] = self._make_block(self._next_block)
            self._next_block += 1
            for old in [b for b in self._blocks if b < self._next_block - 2]:
                del self._blocks[old]
        if j not in self._blocks:
            raise RuntimeError(f"meter {self.serial}: block {j} is in the past")
        return self._blocks[j]

    def _step_of(self, t_ms: int) -> int:
        return (t_ms - self.start_ms) // self.step_ms

    # ------------------------------------------------------------ physics
    def update(self, now_ms: int) -> None:
        a, b = self.t_ms, now_ms
        if b <= a:
            return
        k_first, k_last = self._step_of(a), self._step_of(b - 1)
        for j in range(k_first // BLOCK_STEPS, k_last // BLOCK_STEPS + 1):
            blk = self._block(j)
            ks = np.arange(blk.k0, blk.k0 + BLOCK_STEPS, dtype=np.int64)
            s = self.start_ms + ks * self.step_ms
            dur = np.minimum(b, s + self.step_ms) - np.maximum(a, s)
            dur = np.maximum(dur, 0)
            if not dur.any():
                continue
            for ph in range(3):
                p = blk.phase_w[ph]
                self.imp_mj[ph] += int(np.sum(np.maximum(p, 0) * dur))
                self.exp_mj[ph] += int(np.sum(np.maximum(-p, 0) * dur))
            self.pv_mj += int(np.sum(blk.pv_int_w * dur))
        self.t_ms = b

    def _now(self) -> tuple[_Block, int]:
        k = self._step_of(self.t_ms)
        blk = self._block(k // BLOCK_STEPS)
        return blk, k - blk.k0

    def _reset_counters(self) -> None:
        self.imp_mj = [0, 0, 0]
        self.exp_mj = [0, 0, 0]

    def import_wh(self) -> int:
        return sum(self.imp_mj) // MJ_PER_WH

    def export_wh(self) -> int:
        return sum(self.exp_mj) // MJ_PER_WH

    def pv_now_w(self) -> int:
        """The PV power of the current step, as the net power counts it (W, integer)."""
        blk, i = self._now()
        return int(blk.pv_int_w[i])

    def snapshot(self) -> dict[str, float | int]:
        blk, i = self._now()
        return {
            "t_ms": self.t_ms,
            "w": int(blk.net_w[i]),
            "load_w": float(blk.load_w[i]),
            "pv_w": float(blk.pv_w[i]),
            "import_wh": self.import_wh(),
            "export_wh": self.export_wh(),
            "import_mj": sum(self.imp_mj),
            "export_mj": sum(self.exp_mj),
            "v": float(np.mean(blk.volts[:, i])),
            "hz": float(blk.hz[i]),
            "boots": self.boots,
        }

    # ------------------------------------------------------------ registers
    def raw_values(self) -> dict[int, dict[str, RawValue]]:
        blk, i = self._now()
        sf = self.sf
        w_ph = [int(blk.phase_w[ph, i]) for ph in range(3)]
        load_ph = float(blk.load_w[i]) / 3.0
        var_ph = [load_ph * self._tan_phi] * 3
        va_ph = [math.hypot(w, q) for w, q in zip(w_ph, var_ph, strict=False)]
        v_ph = [float(blk.volts[ph, i]) for ph in range(3)]
        a_ph = [va / v for va, v in zip(va_ph, v_ph, strict=False)]
        pf_ph = [100.0 * w / va if va > 0 else 100.0 for w, va in zip(w_ph, va_ph, strict=False)]
        w_tot = sum(w_ph)
        va_tot = sum(va_ph)
        ll = [
            math.sqrt(v1 * v1 + v2 * v2 + v1 * v2)
            for v1, v2 in ((v_ph[0], v_ph[1]), (v_ph[1], v_ph[2]), (v_ph[2], v_ph[0]))
        ]

        def r(value: float, sf_name: str, ptype: str = "int16") -> int:
            return to_raw(value, sf[sf_name], ptype)

        m203: dict[str, RawValue] = {
            "A": r(sum(a_ph), "A_SF"),
            "AphA": r(a_ph[0], "A_SF"),
            "AphB": r(a_ph[1], "A_SF"),
            "AphC": r(a_ph[2], "A_SF"),
            "PhV": r(sum(v_ph) / 3, "V_SF"),
            "PhVphA": r(v_ph[0], "V_SF"),
            "PhVphB": r(v_ph[1], "V_SF"),
            "PhVphC": r(v_ph[2], "V_SF"),
            "PPV": r(sum(ll) / 3, "V_SF"),
            "PhVphAB": r(ll[0], "V_SF"),
            "PhVphBC": r(ll[1], "V_SF"),
            "PhVphCA": r(ll[2], "V_SF"),
            "Hz": r(float(blk.hz[i]), "Hz_SF"),
            "W": r(w_tot, "W_SF"),
            "WphA": r(w_ph[0], "W_SF"),
            "WphB": r(w_ph[1], "W_SF"),
            "WphC": r(w_ph[2], "W_SF"),
            "VA": r(va_tot, "VA_SF"),
            "VAphA": r(va_ph[0], "VA_SF"),
            "VAphB": r(va_ph[1], "VA_SF"),
            "VAphC": r(va_ph[2], "VA_SF"),
            "VAR": r(sum(var_ph), "VAR_SF"),
            "VARphA": r(var_ph[0], "VAR_SF"),
            "VARphB": r(var_ph[1], "VAR_SF"),
            "VARphC": r(var_ph[2], "VAR_SF"),
            "PF": r(100.0 * w_tot / va_tot if va_tot > 0 else 100.0, "PF_SF"),
            "PFphA": r(pf_ph[0], "PF_SF"),
            "PFphB": r(pf_ph[1], "PF_SF"),
            "PFphC": r(pf_ph[2], "PF_SF"),
            "TotWhExp": self.export_wh(),
            "TotWhExpPhA": self.exp_mj[0] // MJ_PER_WH,
            "TotWhExpPhB": self.exp_mj[1] // MJ_PER_WH,
            "TotWhExpPhC": self.exp_mj[2] // MJ_PER_WH,
            "TotWhImp": self.import_wh(),
            "TotWhImpPhA": self.imp_mj[0] // MJ_PER_WH,
            "TotWhImpPhB": self.imp_mj[1] // MJ_PER_WH,
            "TotWhImpPhC": self.imp_mj[2] // MJ_PER_WH,
            "Evt": self.event_bits(),
            **sf,
        }
        return {1: self.common_values(), 203: m203}
