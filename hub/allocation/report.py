"""Owen values and ladder prices as JSON-ready dicts (one format for CLI and API).

Market games are valued in mg CO2 internally (exact integers) and reported in
grams; table games in the table's own unit. Exact values are also given as
exact fractions ("p/q" strings) so a reader can check a hand calculation to
the last digit.
"""

from __future__ import annotations

from fractions import Fraction
from typing import Any

from hub.allocation.game import Game
from hub.allocation.ladder import LadderResult, Tiers
from hub.allocation.market import MarketGame
from hub.allocation.owen import OwenResult, exact_cost, owen
from hub.allocation.signal import price_signal


def _frac_text(x: Fraction | int) -> str:
    x = Fraction(x)
    return str(x.numerator) if x.denominator == 1 else f"{x.numerator}/{x.denominator}"


def allocate(game: Game, method: str = "auto", rounds: int = 8, seed: int = 0,
             target_rel_se: float | None = None, entity_rel_se: float | None = None,
             client: object | None = None) -> OwenResult:
    """Owen value; the sampler's stop rules: every SE within ``target_rel_se`` x |v(N)|,
    and/or 95 % of the entities within ``entity_rel_se`` of their own value."""
    target = None
    if target_rel_se is not None:
        target = abs(float(game.value(game.structure.grand))) * target_rel_se
    return owen(game, method=method, rounds=rounds, seed=seed, target_se=target,
                target_rel_se=entity_rel_se, client=client)


def owen_report(game: Game, res: OwenResult) -> dict[str, Any]:
    scale = 1000 if isinstance(game, MarketGame) else 1
    unit = "g CO2" if scale == 1000 else "value"
    st = res.structure
    union_of = st.union_of()

    def num(v: object) -> float:
        return float(v) / scale

    players = []
    for i, p in enumerate(st.players):
        row: dict[str, Any] = {
            "id": p,
            "union": st.union_names[union_of[i]],
            "value": num(res.values[i]),
        }
        if res.method == "exact":
            row["exact"] = _frac_text(Fraction(res.values[i]) / scale)
        if res.se is not None:
            row["se"] = res.se[i] / scale
        if res.rel_se is not None:
            rel = res.rel_se[i]
            row["rel_se"] = rel if rel != float("inf") else None  # JSON has no infinity
        players.append(row)
    totals = res.union_totals()
    out: dict[str, Any] = {
        "method": res.method,
        "unit": unit,
        "grand_value": num(res.grand_value),
        "sum_of_values": num(sum(res.values, 0)),
        "players": players,
        "unions": [
            {"id": name, "members": [st.players[i] for i in st.unions[k]],
             "value": num(totals[k])}
            for k, name in enumerate(st.union_names)
        ],
        "coalitions_evaluated": res.evaluations,
        "exact_cost": exact_cost(st),
    }
    if res.method == "sampled":
        out["rounds"] = res.rounds
        out["extra_designs"] = [list(x) for x in res.extra_designs]
        out["max_se"] = max(res.se or (0.0,)) / scale
        out["excluded_even_share"] = list(res.excluded)
        if res.share_within_target is not None:
            out["share_within_target"] = res.share_within_target
    return out


def ladder_report(game: MarketGame, res: OwenResult, lad: LadderResult, tiers: Tiers,
                  interval: str = "") -> dict[str, Any]:
    m = game.market
    rm = lad.revised_market
    before, after = m.emissions_mg(lad.blind), rm.emissions_mg(lad.revised)
    return {
        "tiers": [{"from": _frac_text(f), "price_per_t": _frac_text(p)} for f, p in tiers],
        "stats_g": {side: {"a_min": float(a), "a_avg": float(b)}
                    for side, (a, b) in lad.stats.items()},
        "entities": [
            {
                "id": r.entity.id,
                "side": r.entity.side,
                "region": r.entity.region,
                "allocation_g": float(r.allocation_g),
                "carbon_cost": float(r.cost_micro) / 1e6,
                "q_wh": r.q_wh,
                "price": r.entity.price,
                "adder": r.adder,
                "new_price": r.new_price,
                "cleared_blind_wh": (lad.blind.gen_wh if r.entity.side == "gen"
                                     else lad.blind.load_wh)[r.entity.id],
                "cleared_revised_wh": (lad.revised.gen_wh if r.entity.side == "gen"
                                       else lad.revised.load_wh)[r.entity.id],
            }
            for r in lad.rows
        ],
        "blind": {"emissions_g": before / 1000, "volume_wh": lad.blind.volume_wh,
                  "use_wh": m.use_by_tech(lad.blind)},
        "revised": {"emissions_g": after / 1000, "volume_wh": lad.revised.volume_wh,
                    "use_wh": rm.use_by_tech(lad.revised)},
        "signal": price_signal(lad, tiers, interval, res.method, res.grand_value),
    }
