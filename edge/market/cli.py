"""``carbon-edge market``: clear an order book from a JSON file.

    carbon-edge market clear  --book book.json [--rules p5|merit] [--json]
    carbon-edge market rounds --book book.json --max-rounds N
                              [--strategy best-response|toward-price] [--json]

The file formats are documented in docs/market.md, with examples in
docs/examples/market/. Input is parsed by strict pydantic models (integers
only, unknown keys refused) so that a typo is one clear sentence, not a
silently ignored field.
"""

from __future__ import annotations

import argparse
import json
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from edge.cli import EXIT_OK, UsageError, emit
from edge.cliargs import leaf

from .book import apply_adders
from .clearing import Clearing, Order, Unit, clear_uniform, merit_order
from .rounds import STRATEGIES, Round, Strategy, TowardPrice, run_rounds
from .settlement import Settlement, settle


class _Strict(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid")


class OrderIn(_Strict):
    id: str = Field(min_length=1)
    side: Literal["buy", "sell"]
    qty_wh: int
    price: int
    seq: int | None = None
    #: for rounds: the participant's own limit, a buyer's highest / a seller's lowest
    #: acceptable price (default: its quote)
    reservation: int | None = None


class UnitIn(_Strict):
    id: str = Field(min_length=1)
    qmin_wh: int = 0
    qmax_wh: int
    price: int
    seq: int | None = None


class BookIn(_Strict):
    """P5 book (``orders``) and/or P1 market (``generators``, ``loads``)."""

    interval: int | None = None
    orders: list[OrderIn] | None = None
    adders: dict[str, int] = {}
    intensity: int | dict[str, int] = 0
    tick: int = 1000
    generators: list[UnitIn] | None = None
    loads: list[UnitIn] | None = None


def _seqs(items: list[Any], what: str) -> list[int]:
    """Explicit seqs for all, or none (then seq = position + 1); a mix is ambiguous."""
    given = [x.seq for x in items]
    if all(s is None for s in given):
        return list(range(1, len(items) + 1))
    if any(s is None for s in given):
        i = given.index(None)
        raise UsageError(f"{what}[{i}] has no seq while others do: give seq to all or to none")
    return given  # type: ignore[return-value]


def load_book(path: str) -> BookIn:
    try:
        with open(path, encoding="utf-8") as f:
            raw = json.load(f)
    except json.JSONDecodeError as exc:
        raise UsageError(
            f"{path} is not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})"
        ) from None
    except UnicodeDecodeError:
        raise UsageError(f"{path} is not UTF-8 text") from None
    try:
        return BookIn.model_validate(raw)
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in err["loc"]).lstrip(".")
        more = f" (and {exc.error_count() - 1} more problems)" if exc.error_count() > 1 else ""
        raise UsageError(f"{path}: {loc or 'top level'}: {err['msg']}{more}") from None


def book_orders(book: BookIn, path: str) -> list[Order]:
    if book.orders is None:
        raise UsageError(f"{path} has no \"orders\" list: the p5 rules clear orders")
    seqs = _seqs(book.orders, "orders")
    return [Order(o.id, o.side, o.qty_wh, o.price, s)
            for o, s in zip(book.orders, seqs, strict=True)]


def _clearing_json(orders: list[Order], c: Clearing, s: Settlement) -> dict[str, Any]:
    lines = {x.participant: x for x in s.lines}
    return {
        "price": c.price,
        "volume_wh": c.volume_wh,
        "regime": c.regime,
        "value_micro": s.value_micro,
        "carbon_g": s.carbon_g,
        "fills": [
            {
                "order_id": f.order_id,
                "side": f.side,
                "limit": o.price,
                "qty_wh": f.qty_wh,
                "status": f.status,
                "energy_wh": lines[o.id].energy_wh,
                "money_micro": lines[o.id].money_micro,
                "carbon_g": lines[o.id].carbon_g,
            }
            for o, f in zip(orders, c.fills, strict=True)
        ],
    }


def _clearing_text(res: dict[str, Any]) -> str:
    price = "none" if res["price"] is None else res["price"]
    rows = [
        f"{res['regime']}: price {price} micro/kWh, volume {res['volume_wh']} Wh, "
        f"value {res['value_micro']} micro, carbon {res['carbon_g']} g",
        f"{'order':<16}{'side':<6}{'limit':>12}{'qty_wh':>12}  {'status':<9}{'money':>14}"
        f"{'carbon_g':>10}",
    ]
    for f in res["fills"]:
        rows.append(
            f"{f['order_id']:<16}{f['side']:<6}{f['limit']:>12}{f['qty_wh']:>12}  "
            f"{f['status']:<9}{f['money_micro']:>14}{f['carbon_g']:>10}"
        )
    return "\n".join(rows)


def _clear_p5(book: BookIn, path: str) -> dict[str, Any]:
    orders = list(apply_adders(book_orders(book, path), book.adders))
    c = clear_uniform(orders)
    out = _clearing_json(orders, c, settle(orders, c, book.intensity))
    return {"rules": "p5", "interval": book.interval, **out}


def _clear_merit(book: BookIn, path: str) -> dict[str, Any]:
    if book.generators is None or book.loads is None:
        raise UsageError(f"{path} needs \"generators\" and \"loads\" lists for the merit rules")
    gens = [Unit(u.id, u.qmin_wh, u.qmax_wh, u.price, s)
            for u, s in zip(book.generators, _seqs(book.generators, "generators"),
                            strict=True)]
    loads = [Unit(u.id, u.qmin_wh, u.qmax_wh, u.price, s)
             for u, s in zip(book.loads, _seqs(book.loads, "loads"), strict=True)]
    d = merit_order(gens, loads)
    return {"rules": "merit", "interval": book.interval, "price": d.price,
            "volume_wh": d.volume_wh, "relaxed": d.relaxed, "gen_wh": d.gen_wh,
            "load_wh": d.load_wh}


def _merit_text(res: dict[str, Any]) -> str:
    price = "none" if res["price"] is None else res["price"]
    rows = [f"merit order: price {price} micro/kWh, volume {res['volume_wh']} Wh"
            + (" (minimums relaxed)" if res["relaxed"] else "")]
    rows += [f"  gen  {k:<16}{v:>12} Wh" for k, v in res["gen_wh"].items()]
    rows += [f"  load {k:<16}{v:>12} Wh" for k, v in res["load_wh"].items()]
    return "\n".join(rows)


def cmd_clear(args: argparse.Namespace) -> int:
    book = load_book(args.book)
    try:
        if args.rules == "merit":
            res = _clear_merit(book, args.book)
            emit(res, args.json, _merit_text(res))
        else:
            res = _clear_p5(book, args.book)
            emit(res, args.json, _clearing_text(res))
    except ValueError as exc:
        raise UsageError(f"{args.book}: {exc}") from None
    return EXIT_OK


def _strategy(name: str, book: BookIn) -> Strategy:
    return TowardPrice(book.tick) if name == TowardPrice.name else STRATEGIES[name]()


def cmd_rounds(args: argparse.Namespace) -> int:
    book = load_book(args.book)
    if args.max_rounds < 1:
        raise UsageError(f"--max-rounds must be at least 1, got {args.max_rounds}")
    try:
        orders = book_orders(book, args.book)
        # limits are quoted like prices: the adders shift them alike (in run_rounds)
        limits = {o.id: o.reservation for o in book.orders or [] if o.reservation is not None}
        summary: list[dict[str, Any]] = []
        before: dict[str, int] = {}

        def publish(r: Round) -> None:
            if summary and summary[-1]["round"] == r.number:  # published again: it binds
                summary[-1]["final"] = r.final
                return
            changed = sum(before.get(o.id, o.price) != o.price for o in r.orders)
            before.update((o.id, o.price) for o in r.orders)
            summary.append({"round": r.number, "price": r.clearing.price,
                            "volume_wh": r.clearing.volume_wh, "regime": r.clearing.regime,
                            "quotes_changed": changed, "final": r.final})

        result = run_rounds(orders, _strategy(args.strategy, book), args.max_rounds, limits,
                            book.adders, publish)
        last = result.binding
        final = _clearing_json(list(last.orders), last.clearing,
                               settle(last.orders, last.clearing, book.intensity))
    except ValueError as exc:
        raise UsageError(f"{args.book}: {exc}") from None
    res = {"rules": "p5", "interval": book.interval, "strategy": args.strategy,
           "converged": result.converged, "rounds": summary, "binding": final}
    text = "\n".join(
        [f"round {s['round']}: price "
         f"{'none' if s['price'] is None else str(s['price']) + ' micro/kWh'}, "
         f"volume {s['volume_wh']} Wh, "
         f"{s['quotes_changed']} quotes changed" for s in summary]
        + [("converged" if result.converged else "round limit reached")
           + f"; binding round {last.number}:", _clearing_text(final)]
    )
    emit(res, args.json, text)
    return EXIT_OK


def register(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", metavar="ACTION")
    p = leaf(sub, "clear", "clear one order book (P5 uniform price or P1 merit order)",
             "carbon-edge market clear --book docs/examples/market/book.json",
             "carbon-edge market clear --book docs/examples/market/merit.json --rules merit")
    p.add_argument("--book", required=True, help="book JSON (docs/market.md)")
    p.add_argument("--rules", choices=("p5", "merit"), default="p5",
                   help="p5: uniform-price double auction of orders; merit: P1 merit order")
    p.add_argument("--json", action="store_true", help="JSON output")
    p.set_defaults(func=cmd_clear)
    p = leaf(sub, "rounds", "P5 iterative bidding rounds (best response by default)",
             "carbon-edge market rounds --book docs/examples/market/rounds.json --max-rounds 5")
    p.add_argument("--book", required=True, help="book JSON with optional reservations and tick")
    p.add_argument("--max-rounds", type=int, required=True,
                   help="most rounds cleared, numbered from 0 (>= 1)")
    p.add_argument("--strategy", choices=tuple(STRATEGIES), default="best-response",
                   help="how participants revise: best-response (P5) or toward-price (tick)")
    p.add_argument("--json", action="store_true", help="JSON output")
    p.set_defaults(func=cmd_rounds)
