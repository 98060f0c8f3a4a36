"""``carbon-edge carbon-market``: clear a carbon book, run the relayer, advise a bid range.

    carbon-edge carbon-market clear  --book book.json [--json]
    carbon-edge carbon-market relay  --config relayer.json [--once]
    carbon-edge carbon-market advise (--csv prices.csv | --synthetic HOURS) --electricity P [--json]
    carbon-edge carbon-market quota  --evidence ev.json --hub ID --gw GW --start S --end E [--json]
    carbon-edge carbon-market verify --db chain.db --layout carbon|electricity [--json]
    carbon-edge carbon-market export-proof --db chain.db --layout L --height H --index I
    carbon-edge carbon-market check-proof  --file proof.json --layout L [--producer ID] [--json]

Formats and worked examples: docs/carbon-market.md and docs/examples/carbon-market/.
Input is parsed by strict pydantic models (integers only, unknown keys refused).
"""

from __future__ import annotations

import argparse
import json
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from edge.cli import EXIT_FAIL, EXIT_OK, UsageError, emit
from edge.cliargs import bounded_int, leaf

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


def _pairs(items: list[str] | None, what: str) -> dict[str, str]:
    """``CHAIN=VALUE`` options as a dict; UsageError names a malformed or repeated one."""
    out: dict[str, str] = {}
    for item in items or []:
        chain, sep, value = item.partition("=")
        if not sep or not chain or not value:
            raise UsageError(f"--{what} expects CHAIN=VALUE, got {item!r}")
        if chain in out:
            raise UsageError(f"--{what} names chain {chain!r} twice")
        out[chain] = value
    if not out:
        raise UsageError(f"give at least one --{what} CHAIN=VALUE")
    return out


def cmd_oracle_serve(args: argparse.Namespace) -> int:
    from pathlib import Path

    from edge.chain.keys import KeyFileError, load_private_key, public_key_from_id

    from .oracleserver import serve

    requesters = _pairs(args.requester, "requester")
    chains = _pairs(args.chain, "chain")
    for chain, producer in requesters.items():
        try:
            public_key_from_id(producer)
        except (KeyFileError, ValueError):
            raise UsageError(f"--requester {chain}: {producer!r} is not a public id") from None
    for chain, path in chains.items():
        if not Path(path).is_file():
            raise UsageError(f"--chain {chain}: no chain store at {path}")
    try:
        key = load_private_key(args.key)
    except (KeyFileError, OSError, ValueError) as exc:
        raise UsageError(f"--key {args.key}: {exc}") from None
    serve(key, requesters, chains, args.host, args.port)
    return EXIT_OK


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


def cmd_quota(args: argparse.Namespace) -> int:
    from .errors import Refused
    from .quota import (
        QuotaConfig,
        accounting_entry,
        pvp_quota,
        quota_basis,
        verify_meter_evidence,
    )

    docs = _read_json(args.evidence)
    if not isinstance(docs, list) or len(docs) > 1_000_000:
        raise UsageError(f"{args.evidence} must hold a list of evidence objects")
    try:
        config = QuotaConfig.from_mapping(_read_json(args.config)) if args.config \
            else QuotaConfig()
    except (TypeError, ValueError) as exc:
        raise UsageError(f"{args.config}: {exc}") from None
    readings = []
    for i, doc in enumerate(docs):
        try:
            readings.append(verify_meter_evidence(doc, args.hub, args.edge or None))
        except Refused as exc:
            emit({"ok": False, "index": i, "reason": exc.reason.value, "message": exc.message},
                 args.json, f"evidence #{i} refused: {exc.message}")
            return EXIT_FAIL
    try:
        q = pvp_quota(readings, args.gw, args.start, args.end, config, args.certified_wh)
        entry = accounting_entry(args.gw, "pvp", args.start, args.end,
                                 q.quota_g if args.estimate is None else args.estimate,
                                 q.quota_g, quota_basis(q, docs))
    except Refused as exc:
        emit({"ok": False, "reason": exc.reason.value, "message": exc.message}, args.json,
             f"refused: {exc.message}")
        return EXIT_FAIL
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    emit({"ok": True, "quota_g": q.quota_g, "gen_wh": q.gen_wh, "intervals": q.intervals,
          "certified_wh": q.certified_wh, "entry": entry}, args.json,
         f"{args.gw}: {q.gen_wh} Wh metered over {q.intervals} intervals, "
         f"{q.certified_wh} Wh certified -> quota {q.quota_g} g")
    return EXIT_OK


def _layout(name: str):  # noqa: ANN202
    from .twotree import LAYOUTS

    return LAYOUTS[name]


def _chain(path: str, layout: str):  # noqa: ANN202
    from pathlib import Path

    from .twotree import TwoTreeChain

    if not Path(path).exists():
        raise UsageError(f"no chain store at {path}")
    return TwoTreeChain(path, _layout(layout), layout)


def cmd_verify(args: argparse.Namespace) -> int:
    chain = _chain(args.db, args.layout)
    try:
        report = chain.verify(args.producer or None)
    finally:
        chain.close()
    text = (f"ok: {report.blocks} blocks, head {report.head}" if report.ok else
            f"FAILED at height {report.bad_height}: {report.reason}")
    emit(report.as_dict(), args.json, text)
    return EXIT_OK if report.ok else EXIT_FAIL


def cmd_export_proof(args: argparse.Namespace) -> int:
    from .twotree import tx_proof

    chain = _chain(args.db, args.layout)
    try:
        block = chain.store.get(args.height)
        doc = tx_proof(chain.layout, block, args.index)
    except (KeyError, IndexError) as exc:
        raise UsageError(str(exc).strip("'\"")) from None
    finally:
        chain.close()
    emit(doc, True)
    return EXIT_OK


def cmd_check_proof(args: argparse.Namespace) -> int:
    from .errors import Refused
    from .lightclient import parse_header
    from .twotree import check_tx_proof

    doc = _read_json(args.file)
    problems = []
    try:
        header = parse_header(doc.get("header") if isinstance(doc, dict) else None)
    except Refused as exc:
        problems.append(exc.message)
    else:
        if not header.signature_ok():
            problems.append("header signature does not verify")
        if args.producer and header.producer != args.producer:
            problems.append("header is not produced by the given producer")
        problem = check_tx_proof(_layout(args.layout), header, doc)
        if problem:
            problems.append(problem)
    emit({"ok": not problems, "problems": problems}, args.json,
         "ok" if not problems else "FAILED: " + "; ".join(problems))
    return EXIT_FAIL if problems else EXIT_OK


def register(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", metavar="ACTION")
    p = leaf(sub, "clear", "clear a carbon book: CEC surpluses first, then PVP quotas",
             "carbon-edge carbon-market clear --book docs/examples/carbon-market/book.json")
    p.add_argument("--book", required=True, help="book JSON (docs/carbon-market.md)")
    p.add_argument("--json", action="store_true", help="JSON output")
    p.set_defaults(func=cmd_clear)
    p = leaf(sub, "relay", "run the peg relayer (carries SPV proofs between chains)",
             "carbon-edge carbon-market relay --once "
             "--config docs/examples/carbon-market/relayer.json")
    p.add_argument("--config", required=True, help="relayer JSON (docs/carbon-market.md)")
    p.add_argument("--once", action="store_true", help="one pass, then exit")
    p.add_argument("--interval", type=float, default=1.0, help="seconds between passes")
    p.set_defaults(func=cmd_relay)
    p = leaf(sub, "oracle-serve", "serve one oracle: signed answers to header requests over "
             "HTTP", "carbon-edge carbon-market oracle-serve --key oracle.pem --port 8701 "
             "--requester carbon=CARBON_PRODUCER_ID --chain carbon=carbon.db "
             "--requester electricity=E_PRODUCER_ID --chain electricity=electricity-peg.db")
    p.add_argument("--key", required=True, help="the oracle's Ed25519 key (PEM)")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on")
    p.add_argument("--port", type=bounded_int(1, 65535), required=True)
    p.add_argument("--requester", action="append", metavar="CHAIN=ID",
                   help="a chain allowed to ask, with its producer's public id (repeat)")
    p.add_argument("--chain", action="append", metavar="CHAIN=PATH",
                   help="a chain this oracle reads, and its store (repeat)")
    p.set_defaults(func=cmd_oracle_serve)
    p = leaf(sub, "advise", "carbon bid range given the electricity price (copula)",
             "carbon-edge carbon-market advise --synthetic 720 --electricity 50000")
    p.add_argument("--csv", help="operator CSV with columns electricity,carbon")
    p.add_argument("--synthetic", type=int, metavar="HOURS", help="use the synthetic series")
    p.add_argument("--electricity", type=int, required=True, help="price, micro-currency/kWh")
    p.add_argument("--level", type=int, default=900, help="coverage in per mille (900 = 90 %%)")
    p.add_argument("--draws", type=int, default=20_000, help="Monte Carlo draws")
    p.add_argument("--seed", type=int, default=1, help="random seed of the draws")
    p.add_argument("--json", action="store_true", help="JSON output")
    p.set_defaults(func=cmd_advise)
    p = leaf(sub, "quota", "a PVP's quota from anchored meter evidence",
             "carbon-edge carbon-market quota --evidence evidence.json --hub HUB_ID --gw gw-01 "
             "--start 1700000000 --end 1700086400")
    p.add_argument("--evidence", required=True, help="JSON list of {payload, proof}")
    p.add_argument("--hub", required=True, help="the hub's public id (pinned)")
    p.add_argument("--edge", action="append", help="a registered edge id (repeat; default: any)")
    p.add_argument("--gw", required=True, help="the PVP's gateway id")
    p.add_argument("--start", type=int, required=True, help="period start (unix s)")
    p.add_argument("--end", type=int, required=True, help="period end (unix s, exclusive)")
    p.add_argument("--config", help="JSON {delta_g_per_kwh, delta_source} (default: 820 g/kWh)")
    p.add_argument("--certified-wh", type=int, default=0, help="Wh already certified")
    p.add_argument("--estimate", type=int, help="the PVP's published estimate, g")
    p.add_argument("--json", action="store_true", help="JSON output")
    p.set_defaults(func=cmd_quota)
    for name, func, help_, example in (
            ("verify", cmd_verify, "verify a two-subtree chain store; exit 1 when invalid",
             "--layout carbon --db carbon.db"),
            ("export-proof", cmd_export_proof, "print one transaction's two-subtree proof",
             "--layout carbon --db carbon.db --height 1 --index 0"),
            ("check-proof", cmd_check_proof, "check a two-subtree proof; exit 1 when invalid",
             "--layout carbon --file proof.json")):
        p = leaf(sub, name, help_, f"carbon-edge carbon-market {name} {example}")
        p.add_argument("--layout", choices=("carbon", "electricity"), required=True)
        p.add_argument("--json", action="store_true", help="JSON output")
        p.set_defaults(func=func)
        if name == "check-proof":
            p.add_argument("--file", required=True)
            p.add_argument("--producer", help="require this producer id")
        else:
            p.add_argument("--db", required=True, help="chain store (SQLite)")
        if name == "verify":
            p.add_argument("--producer", action="append", help="allowed producer id (repeat)")
        if name == "export-proof":
            p.add_argument("--height", type=int, required=True)
            p.add_argument("--index", type=int, required=True, help="position in the block")
