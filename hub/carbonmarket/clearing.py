"""Bilateral carbon clearing: CEC surpluses to CEC deficits first, then PVP quotas.

Buyers are consumers (CEC) with a negative verified position; sellers are
consumers with a positive one (phase 1) and PV prosumers with a quota
(phase 2). In each phase buyers go by bid, highest first, sellers by ask,
lowest first, ties to the earlier submission (lower ``seq``); the best
remaining buyer meets the best remaining seller while ask <= bid, each pair
trading the smaller of what the two have left, at the midpoint of ask and
bid (the k = 1/2 double auction). Phase 2 offers what the buyers still need
to the PVPs in the same way. docs/carbon-market.md works an example.

Integers throughout: quantities in g CO2, prices in micro-currency per kg
CO2, money in micro-currency. The exact turnover qty x price is in units of
1/1000 micro-currency; the buyer pays its floor (the same rule as the
electricity market's settlement, energy in Wh x price per kWh).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

MAX_QTY_G = 10**12  # one megatonne: bounds qty x price well inside 64 bits
MAX_PRICE = 10**9  # micro-currency per kg: 1,000,000 currency per tonne

Role = Literal["cec", "pvp"]


@dataclass(frozen=True)
class Participant:
    """A verified position: CEC ``verified_g`` > 0 sells, < 0 buys; a PVP's quota sells.

    ``price`` is the ask of a seller, the bid of a buyer (micro-currency/kg).
    """

    id: str
    role: Role
    verified_g: int
    price: int
    seq: int


@dataclass(frozen=True)
class Trade:
    seller: str
    buyer: str
    qty_g: int
    ask: int
    bid: int
    price: int
    turnover_micro: int
    phase: int  # 1: CEC to CEC, 2: PVP to CEC

    def as_tx(self, cycle: int, n: int) -> dict[str, object]:
        return {"kind": "carbon_trade", "cycle": cycle, "n": n, "seller": self.seller,
                "buyer": self.buyer, "qty_g": self.qty_g, "ask": self.ask, "bid": self.bid,
                "price": self.price, "turnover_micro": self.turnover_micro, "phase": self.phase}


@dataclass(frozen=True)
class Clearing:
    trades: tuple[Trade, ...]
    filled_g: dict[str, int]  # sold (sellers) or bought (buyers)
    money_micro: dict[str, int]  # + received, - paid

    @property
    def volume_g(self) -> int:
        return sum(t.qty_g for t in self.trades)

    @property
    def turnover_micro(self) -> int:
        return sum(t.turnover_micro for t in self.trades)


def midpoint(ask: int, bid: int) -> int:
    """(ask + bid) / 2, a half rounded to the even integer: no side is favoured on average.

    ask <= result <= bid whenever ask <= bid.
    """
    s = ask + bid
    low = s // 2
    if s % 2 == 0 or low % 2 == 0:
        return low
    return low + 1


def turnover(qty_g: int, price: int) -> int:
    """Micro-currency paid for ``qty_g`` grams at ``price`` micro-currency per kg (floor)."""
    return qty_g * price // 1000


def validate(p: Participant) -> None:
    where = f"participant {p.id!r}"
    if not isinstance(p.id, str) or not p.id:
        raise ValueError("a participant needs a non-empty id")
    if p.role not in ("cec", "pvp"):
        raise ValueError(f"{where}: role must be cec or pvp")
    for name in ("verified_g", "price", "seq"):
        v = getattr(p, name)
        if not isinstance(v, int) or isinstance(v, bool):
            raise ValueError(f"{where}: {name} must be an integer")
    if abs(p.verified_g) > MAX_QTY_G:
        raise ValueError(f"{where}: |verified_g| over {MAX_QTY_G} g")
    if not 0 <= p.price <= MAX_PRICE:
        raise ValueError(f"{where}: price must be in 0..{MAX_PRICE} micro-currency/kg")
    if p.role == "pvp" and p.verified_g < 0:
        raise ValueError(f"{where}: a PVP quota cannot be negative")


def _match(
    buyers: list[Participant], left: dict[str, int], sellers: list[Participant], phase: int,
    out: list[Trade],
) -> None:
    sellers = sorted(sellers, key=lambda p: (p.price, p.seq))
    i = j = 0
    while i < len(buyers) and j < len(sellers):
        b, s = buyers[i], sellers[j]
        if left[b.id] == 0:
            i += 1
            continue
        if left[s.id] == 0:
            j += 1
            continue
        if s.price > b.price:
            break  # every later pair has a higher ask or a lower bid
        q = min(left[b.id], left[s.id])
        price = midpoint(s.price, b.price)
        out.append(Trade(s.id, b.id, q, s.price, b.price, price, turnover(q, price), phase))
        left[b.id] -= q
        left[s.id] -= q


def clear_bilateral(participants: Sequence[Participant]) -> Clearing:
    """Match buyers and sellers by the two-phase rule; every participant at most once."""
    seen: set[str] = set()
    for p in participants:
        validate(p)
        if p.id in seen:
            raise ValueError(f"participant {p.id!r}: duplicate id")
        seen.add(p.id)
    buyers = sorted((p for p in participants if p.role == "cec" and p.verified_g < 0),
                    key=lambda p: (-p.price, p.seq))
    left = {p.id: abs(p.verified_g) for p in participants}
    trades: list[Trade] = []
    _match(buyers, left, [p for p in participants if p.role == "cec" and p.verified_g > 0],
           1, trades)
    _match(buyers, left, [p for p in participants if p.role == "pvp" and p.verified_g > 0],
           2, trades)
    filled = {p.id: abs(p.verified_g) - left[p.id] for p in participants}
    money = {p.id: 0 for p in participants}
    for t in trades:
        money[t.seller] += t.turnover_micro
        money[t.buyer] -= t.turnover_micro
    return Clearing(tuple(trades), filled, money)
