"""Direct polling of SunSpec meters wired to the hub itself (pymodbus, async).

Decoding is pure and apart from the bus: ``find_meter`` walks the SunSpec
model chain from the "SunS" marker, ``decode_meter`` turns one meter model's
registers into a ``Reading``. Point offsets are those of the SunSpec meter
models 201-204 (identical for W, W_SF, TotWhExp, TotWhImp, TotWh_SF), checked
against pysunspec2's model files in tests/edge; we do not import pysunspec2
here because the edge image stays lean (it is a simulator dependency).

Polling: one asyncio task per meter, so a dead meter never delays another;
after a failure the task backs off (doubling up to 30 s) and keeps its last
value marked ``stale`` with the time it was read, never as live.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from edge.runtime.config import MeterConfig

log = logging.getLogger("carbon_edge.modbus")

SUNS = (0x5375, 0x6E53)
METER_MODELS = (201, 202, 203, 204)
END_MODEL = 0xFFFF
#: offsets from the model's ID register (pysunspec2 counts ID and L as points 0 and 1)
OFF_W, OFF_W_SF, OFF_EXP, OFF_IMP, OFF_WH_SF = 18, 22, 38, 46, 54
METER_LEN = 107  # ID + L + 105
NOT_IMPL_I16 = 0x8000
NOT_IMPL_ACC32 = 0


class DecodeError(ValueError):
    """Registers that are not a SunSpec meter (missing marker, model or points)."""


@dataclass(frozen=True)
class Reading:
    dev: str
    q: str  # good / stale / invalid / nodata (edge.protocol.messages.Reading)
    ts: int
    p_w: int | None = None
    e_imp_wh: int | None = None
    e_exp_wh: int | None = None

    def as_dict(self) -> dict[str, object]:
        d: dict[str, object] = {"dev": self.dev, "kind": "meter", "q": self.q, "ts": self.ts}
        for k in ("p_w", "e_imp_wh", "e_exp_wh"):
            v = getattr(self, k)
            if v is not None:
                d[k] = v
        return d


def _s16(v: int) -> int:
    return v - 0x10000 if v & 0x8000 else v


def _scaled(value: int, sf: int) -> int:
    """An integer value times 10**sf, rounded half away from zero, without floats."""
    if sf >= 0:
        return value * 10**sf
    d = 10 ** (-sf)
    q, r = divmod(abs(value), d)
    q += 1 if 2 * r >= d else 0
    return q if value >= 0 else -q


def model_walk(headers: Sequence[tuple[int, int, int]]) -> int:
    """Address of the first meter model from (address, id, length) headers."""
    for addr, mid, _ in headers:
        if mid in METER_MODELS:
            return addr
        if mid == END_MODEL:
            break
    raise DecodeError("no SunSpec meter model (201-204) before the end model")


def decode_meter(dev: str, regs: Sequence[int], ts: int, max_w: int = 10**7) -> Reading:
    """One meter model block (starting at its ID register) -> a Reading with quality."""
    if len(regs) < METER_LEN - 50 or regs[0] not in METER_MODELS:
        raise DecodeError(f"registers do not start with a meter model id (got {regs[:1]})")
    w_raw, w_sf = regs[OFF_W], _s16(regs[OFF_W_SF])
    wh_sf = _s16(regs[OFF_WH_SF])
    exp = regs[OFF_EXP] << 16 | regs[OFF_EXP + 1]
    imp = regs[OFF_IMP] << 16 | regs[OFF_IMP + 1]
    if w_raw == NOT_IMPL_I16 or not -10 <= w_sf <= 10 or not -10 <= wh_sf <= 10:
        return Reading(dev, "invalid", ts)
    p_w = _scaled(_s16(w_raw), w_sf)
    e_imp, e_exp = _scaled(imp, wh_sf), _scaled(exp, wh_sf)
    q = "good" if abs(p_w) <= max_w and e_imp >= 0 and e_exp >= 0 else "invalid"
    return Reading(dev, q, ts, p_w, e_imp, e_exp)


class MeterPoller:
    """Polls one meter forever; ``on_reading`` gets every reading (good or not)."""

    def __init__(self, cfg: MeterConfig, on_reading: Callable[[Reading], None],
                 now_ms: Callable[[], int]) -> None:
        self.cfg = cfg
        self.on_reading = on_reading
        self.now_ms = now_ms
        self.last: Reading = Reading(cfg.id, "nodata", 0)
        self.failures = 0
        self._model_addr: int | None = None

    async def _read(self, client: object, addr: int, count: int) -> list[int]:
        rr = await client.read_holding_registers(addr, count=count, device_id=self.cfg.unit)
        if rr.isError():
            raise DecodeError(f"Modbus error reply: {rr}")
        return list(rr.registers)

    async def _locate(self, client: object) -> int:
        base = self.cfg.base
        if tuple(await self._read(client, base, 2)) != SUNS:
            raise DecodeError(f"no 'SunS' marker at {base}")
        addr, headers = base + 2, []
        for _ in range(64):
            mid, length = await self._read(client, addr, 2)
            headers.append((addr, mid, length))
            if mid in METER_MODELS or mid == END_MODEL:
                break
            addr += 2 + length
        return model_walk(headers)

    async def poll_once(self, client: object) -> Reading:
        if self._model_addr is None:
            self._model_addr = await self._locate(client)
        regs = await self._read(client, self._model_addr, METER_LEN)
        return decode_meter(self.cfg.id, regs, self.now_ms())

    async def run(self, stop: asyncio.Event) -> None:
        from pymodbus.client import AsyncModbusTcpClient

        client = AsyncModbusTcpClient(self.cfg.host, port=self.cfg.port,
                                      timeout=self.cfg.timeout_s, retries=0)
        backoff = self.cfg.poll_s
        try:
            while not stop.is_set():
                try:
                    if not client.connected:
                        await client.connect()
                    reading = await self.poll_once(client)
                    self.failures, backoff = 0, self.cfg.poll_s
                except Exception as exc:  # noqa: BLE001 - any bus fault: back off, never stop
                    self.failures += 1
                    self._model_addr = None
                    backoff = min(backoff * 2, 30.0)
                    log.warning("meter poll failed", extra={"dev": self.cfg.id,
                                                            "error": str(exc)[:200]})
                    q = "stale" if self.last.q in ("good", "stale") else self.last.q
                    reading = Reading(self.cfg.id, q, self.last.ts, self.last.p_w,
                                      self.last.e_imp_wh, self.last.e_exp_wh)
                    client.close()
                self.last = reading
                self.on_reading(reading)
                try:
                    await asyncio.wait_for(stop.wait(), timeout=backoff)
                except asyncio.TimeoutError:
                    pass
        finally:
            client.close()


def run_pollers(meters: Sequence[MeterConfig], on_reading: Callable[[Reading], None],
                now_ms: Callable[[], int], stop_flag: Callable[[], bool]) -> None:
    """Run every meter's poller in this thread's own event loop until ``stop_flag()``."""

    async def main() -> None:
        stop = asyncio.Event()
        pollers = [MeterPoller(m, on_reading, now_ms) for m in meters]
        tasks = [asyncio.create_task(p.run(stop)) for p in pollers]
        while not stop_flag():
            await asyncio.sleep(0.2)
        stop.set()
        await asyncio.gather(*tasks, return_exceptions=True)

    asyncio.run(main())

