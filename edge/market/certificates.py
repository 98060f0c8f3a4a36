"""Green certificates (P5): one per 1,000 kWh of metered renewable generation.

Only metered generation counts (the `gen_wh` of a gateway's interval energy,
never a bid or an estimate). What does not make a whole certificate carries
over to the next interval, so over any period a participant holds exactly
floor(total generation / 1,000 kWh) certificates. Every issue becomes a
chain transaction (`as_tx`), so the register can be rebuilt from the chain.
Pure functions: the caller keeps the carry-over and the next serial number.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

CERTIFICATE_WH = 1_000_000  # 1,000 kWh


@dataclass(frozen=True)
class Certificate:
    serial: str
    holder: str
    interval: int
    wh: int = CERTIFICATE_WH

    def as_tx(self) -> dict[str, object]:
        return {"kind": "certificate", "serial": self.serial, "holder": self.holder,
                "interval": self.interval, "wh": self.wh}


@dataclass(frozen=True)
class Issuance:
    certificates: tuple[Certificate, ...]
    carry_wh: dict[str, int]  # generation not yet certified, per holder
    next_serial: int


def issue(
    carry_wh: Mapping[str, int],
    generation_wh: Mapping[str, int],
    *,
    interval: int,
    site: str,
    next_serial: int,
) -> Issuance:
    """Certificates for one interval's metered generation, holders in sorted order.

    Serial numbers are `{site}-{n:010d}`, consecutive across intervals, so a
    gap in a chain's certificate serials is visible.
    """
    for holder, wh in generation_wh.items():
        if not isinstance(wh, int) or isinstance(wh, bool) or wh < 0:
            raise ValueError(
                f"generation of {holder!r} must be a non-negative integer Wh, got {wh!r}"
            )
    carry = dict(carry_wh)
    certs = []
    serial = next_serial
    for holder in sorted(set(carry) | set(generation_wh)):
        total = carry.get(holder, 0) + generation_wh.get(holder, 0)
        whole, carry[holder] = divmod(total, CERTIFICATE_WH)
        for _ in range(whole):
            certs.append(Certificate(f"{site}-{serial:010d}", holder, interval))
            serial += 1
    return Issuance(tuple(certs), carry, serial)
