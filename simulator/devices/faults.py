"""The faults a simulated device can be told to show, and their pure effects.

Kinds (each observable by a Modbus client, see docs/devices.md):

- ``no_response``: the device hears requests but never answers (timeouts).
- ``exception``: every request in the map gets a Modbus exception reply
  (``code``, default 0x04 slave device failure).
- ``corrupt_crc``: RTU only; replies go out with a wrong CRC.
- ``stuck``: the registers freeze at their last values while physics runs on.
- ``out_of_range``: power reads 10x the rating (held inside the register
  type), the energy counters read -100 Wh (two's complement in the acc32,
  i.e. 4294967196), and a battery's ChaState reads 655.34 %.
- ``reboot``: not a lasting fault but an event: counters restart at 0, the
  boot count in model 1's ``Opt`` goes up, model 203's Evt shows
  Power_Failure for 60 s, and with ``down_s`` the device is silent that long.

A fault lasts until cleared, or for ``duration_s`` of simulated time.
"""

from __future__ import annotations

from dataclasses import dataclass

from simulator.devices.sunspec_map import RawValue, to_raw

FAULT_KINDS = ("no_response", "exception", "corrupt_crc", "stuck", "out_of_range")
ACTIONS = FAULT_KINDS + ("reboot",)
#: Exception codes a device may be told to answer with (Modbus application protocol 1.1b3).
EXCEPTION_CODES = {1, 2, 3, 4, 5, 6, 7, 8, 10, 11}
DEFAULT_EXCEPTION = 0x04
OUT_OF_RANGE_FACTOR = 10
NEGATIVE_COUNTER_WH = -100


class FaultError(ValueError):
    """A fault command that cannot be carried out; the message says why."""


@dataclass(frozen=True)
class Fault:
    kind: str
    until_ms: int | None = None  # None: until cleared
    code: int | None = None  # exception code, for kind "exception"

    def active(self, now_ms: int) -> bool:
        return self.until_ms is None or now_ms < self.until_ms


def make_fault(
    kind: str, now_ms: int, duration_s: float | None = None, code: int | None = None
) -> Fault:
    """Validate a fault command and build it."""
    if kind not in FAULT_KINDS:
        raise FaultError(f"unknown fault kind {kind!r}; expected one of {', '.join(FAULT_KINDS)}")
    if duration_s is not None and not duration_s > 0:
        raise FaultError(f"duration_s must be > 0, got {duration_s}")
    if kind == "exception":
        code = DEFAULT_EXCEPTION if code is None else code
        if code not in EXCEPTION_CODES:
            raise FaultError(
                f"exception code {code} is not a Modbus exception code "
                f"({', '.join(str(c) for c in sorted(EXCEPTION_CODES))})"
            )
    elif code is not None:
        raise FaultError(f"code applies to the exception fault only, not {kind!r}")
    until = None if duration_s is None else now_ms + int(round(duration_s * 1000))
    return Fault(kind, until, code)


def out_of_range(
    raw: dict[int, dict[str, RawValue]], rating_w: int
) -> dict[int, dict[str, RawValue]]:
    """The raw values a failing sensor would show: absurd power, negative counters."""
    out = {m: dict(v) for m, v in raw.items()}
    m203 = out.get(203)
    if m203 is not None:
        sf = int(m203["W_SF"] or 0)
        current = m203.get("W") or 0
        sign = -1 if isinstance(current, int) and current < 0 else 1
        big = sign * OUT_OF_RANGE_FACTOR * rating_w
        m203["W"] = to_raw(big, sf, "int16")
        for ph in ("WphA", "WphB", "WphC"):
            m203[ph] = to_raw(big / 3, sf, "int16")
        for name in list(m203):
            if name.startswith("TotWhImp") or name.startswith("TotWhExp"):
                m203[name] = NEGATIVE_COUNTER_WH  # encoded mod 2**32 by the acc32 encoder
    m124 = out.get(124)
    if m124 is not None:
        m124["ChaState"] = 0xFFFE
    return out
