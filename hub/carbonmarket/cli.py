"""``carbon-edge carbon-market``: clear a carbon book, run the relayer, advise a bid range.

    carbon-edge carbon-market clear  --book book.json [--json]
    carbon-edge carbon-market relay  --config relayer.json [--once]
    carbon-edge carbon-market advise (--csv prices.csv | --synthetic HOURS) --electricity P [--json]

Formats and worked examples: docs/carbon-market.md and docs/examples/carbon-market/.
Input is parsed by strict pydantic models (integers only, unknown keys refused).
"""

from __future__ import annotations

import argparse
import json
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from edge.cli import EXIT_OK, UsageError, emit

from .clearing import MAX_PRICE, MAX_QTY_G, Participant, clear_bilateral


class _Strict(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid")


class ParticipantIn(_Strict):
    id: str = Field(min_length=1, max_length=64)
    role: Literal["cec", "pvp"]
    estimate_g: int | None = Field(default=None, ge=-MAX_QTY_G, le=MAX_QTY_G)
    verified_g: int = Field(ge=-MAX_QTY_G, le=MAX_QTY_G)
    price: int = Field(ge=0, le=MAX_PRICE)
    seq: int | None = Field(default=None, ge=0, le=1 << 53)


class BookIn(_Strict):
    cycle: int = Field(ge=0, le=1 << 53)
    participants: list[ParticipantIn] = Field(max_length=1_000_000)


def _read_json(path: str) -> Any:
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except json.JSONDecodeError as exc:
        raise UsageError(f"{path} is not valid JSON (line {exc.lineno}, column {exc.colno}: "
                         f"{exc.msg})") from None
    except UnicodeDecodeError:
        raise UsageError(f"{path} is not UTF-8 text") from None


def load_book(path: str) -> BookIn:
    try:
        return BookIn.model_validate(_read_json(path))
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in err["loc"]).lstrip(".")
        more = f" (and {exc.error_count() - 1} more problems)" if exc.error_count() > 1 else ""
        raise UsageError(f"{path}: {loc or 'top level'}: {err['msg']}{more}") from None


def clear_book(book: BookIn) -> dict[str, Any]:
    """The JSON answer of ``clear``: trades in matching order and every participant's result."""
    given = [p.seq for p in book.participants]
    if any(s is None for s in given) and not all(s is None for s in given):
        raise ValueError("give seq to every participant or to none")
    seqs = list(range(1, len(given) + 1)) if given and given[0] is None else given
    parts = [Participant(p.id, p.role, p.verified_g, p.price, s)  # type: ignore[arg-type]
             for p, s in zip(book.participants, seqs, strict=True)]
    c = clear_bilateral(parts)
    rows = []
    for p in book.participants:
        side = "buy" if p.verified_g < 0 else ("sell" if p.verified_g > 0 else "none")
        rows.append({"id": p.id, "role": p.role, "estimate_g": p.estimate_g,
                     "verified_g": p.verified_g, "side": side, "filled_g": c.filled_g[p.id],
                     "left_g": abs(p.verified_g) - c.filled_g[p.id],
                     "money_micro": c.money_micro[p.id]})
    return {"cycle": book.cycle, "volume_g": c.volume_g, "turnover_micro": c.turnover_micro,
            "trades": [t.as_tx(book.cycle, n) for n, t in enumerate(c.trades)],
            "participants": rows}


def _clear_text(res: dict[str, Any]) -> str:
    out = [f"cycle {res['cycle']}: {len(res['trades'])} trades, {res['volume_g']} g, "
           f"turnover {res['turnover_micro']} micro"]
    out += [f"  phase {t['phase']}  {t['seller']:>12} -> {t['buyer']:<12} {t['qty_g']:>10} g "
            f"@ {t['price']:>9} micro/kg = {t['turnover_micro']:>12} micro"
            for t in res["trades"]]
    return "\n".join(out)


def cmd_clear(args: argparse.Namespace) -> int:
    book = load_book(args.book)
    try:
        res = clear_book(book)
    except ValueError as exc:
        raise UsageError(f"{args.book}: {exc}") from None
    emit(res, args.json, _clear_text(res))
    return EXIT_OK


def cmd_relay(args: argparse.Namespace) -> int:
    from .relayer import main as relayer_main

    argv = ["--config", args.config, "--interval", str(args.interval)]
    return relayer_main(argv + (["--once"] if args.once else []))


def cmd_advise(args: argparse.Namespace) -> int:
    from .correlation import advise
    from .prices import load_csv, synthetic_pairs

    if (args.csv is None) == (args.synthetic is None):
        raise UsageError("give exactly one of --csv FILE or --synthetic HOURS")
    try:
        if args.csv is not None:
            elec, carbon = load_csv(args.csv)
        else:
            elec, carbon = synthetic_pairs(args.synthetic, seed=args.seed)
        res = advise(elec, carbon, args.electricity, level_pm=args.level, draws=args.draws,
                     seed=args.seed)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    text = (f"copula {res['copula']['family']} (AIC {res['copula']['aic']:.1f}); Pearson "
            f"{res['pearson']:.3f}, Spearman {res['spearman']:.3f}\n"
            f"electricity {res['electricity_price']} micro/kWh -> carbon bid range "
            f"{res['bid_low']}..{res['bid_high']} micro/kg ({res['level_pm'] / 10:.1f} %)")
    emit(res, args.json, text)
    return EXIT_OK


def register(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", metavar="ACTION")
    p = sub.add_parser("clear", help="clear a carbon book: CEC surpluses first, then PVP quotas")
    p.add_argument("--book", required=True, help="book JSON (docs/carbon-market.md)")
    p.add_argument("--json", action="store_true", help="JSON output")
    p.set_defaults(func=cmd_clear)
    p = sub.add_parser("relay", help="run the peg relayer (carries SPV proofs between chains)")
    p.add_argument("--config", required=True, help="relayer JSON (docs/carbon-market.md)")
    p.add_argument("--once", action="store_true", help="one pass, then exit")
    p.add_argument("--interval", type=float, default=1.0, help="seconds between passes")
    p.set_defaults(func=cmd_relay)
    p = sub.add_parser("advise", help="carbon bid range given the electricity price (copula)")
    p.add_argument("--csv", help="operator CSV with columns electricity,carbon")
    p.add_argument("--synthetic", type=int, metavar="HOURS", help="use the synthetic series")
    p.add_argument("--electricity", type=int, required=True, help="price, micro-currency/kWh")
    p.add_argument("--level", type=int, default=900, help="coverage in per mille (900 = 90 %%)")
    p.add_argument("--draws", type=int, default=20_000, help="Monte Carlo draws")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--json", action="store_true", help="JSON output")
    p.set_defaults(func=cmd_advise)
