"""``carbon-edge pl``: the PL back ends from the command line.

    carbon-edge pl info      [--json]
    carbon-edge pl hash      --input msgs.json [--mode plain|leaf|node|root] [--backend B] [--json]
    carbon-edge pl clear     --book book.json [--rules p5|merit] [--backend B] [--json]
    carbon-edge pl calibrate [--accelerator sim|pynq] [--quick] [--out PATH] [--json]

B is auto (the dispatcher's choice by batch size), cpu, sim or pynq. Formats
are in docs/pl.md; ``clear`` reads the same book files as ``carbon-edge market``.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

from edge.chain import native
from edge.cli import EXIT_OK, UsageError, emit
from edge.cliargs import leaf

from .dispatch import (
    BACKENDS,
    CROSSOVER_PATH,
    Dispatcher,
    calibrate,
    load_crossover,
    make_backend,
    save_crossover,
)
from .errors import PlError, PlUnavailable
from .regmap import RegmapError, load


def _dispatcher(args: argparse.Namespace) -> Dispatcher:
    return Dispatcher(args.backend, bitstream=getattr(args, "bitstream", None))


def _status(kind: str) -> str:
    if kind == "cpu":
        return "ready"
    try:
        if kind == "sim":
            from . import simlib

            return f"ready ({simlib.build()})"
        from .pynq_backend import _import_pynq

        _import_pynq()
        return "pynq importable"
    except PlUnavailable as exc:
        return f"unavailable: {exc}"


def cmd_info(args: argparse.Namespace) -> int:
    try:
        rm = load()
    except RegmapError as exc:
        raise UsageError(str(exc)) from None
    res = {
        "part": rm.part,
        "clock_mhz": rm.clock_mhz,
        "kernels": {
            k.name: {"vlnv": k.vlnv, "instance": k.instance, "base": hex(k.base),
                     "args": {a: hex(o) for a, o in k.args.items()}, "max_items": k.max_items}
            for k in rm.kernels.values()
        },
        "backends": {b: _status(b) for b in BACKENDS[1:]},
        "crossover": load_crossover(),
        "cpu_hasher": native.status(),
    }
    text = [f"PL: {rm.part} at {rm.clock_mhz} MHz"]
    text += [f"  {n:<9} {k['vlnv']} at {k['base']}" for n, k in res["kernels"].items()]
    text += [f"  back end {b:<5} {s}" for b, s in res["backends"].items()]
    text.append(f"  cpu hasher    {res['cpu_hasher']}")
    for accel, e in res["crossover"].items():
        text.append(f"  crossover {accel}: hash from {_from(e.get('hash'), 'messages')}, "
                    f"clear from {_from(e.get('clear'), 'orders')}")
    emit(res, args.json, "\n".join(text))
    return EXIT_OK


def _read_json(path: str) -> Any:
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except json.JSONDecodeError as exc:
        raise UsageError(f"{path} is not valid JSON (line {exc.lineno}: {exc.msg})") from None


def _hex_list(doc: Any, key: str, path: str) -> list[bytes]:
    if not isinstance(doc, dict) or not isinstance(doc.get(key), list):
        raise UsageError(f"{path} needs a {key!r} list of hex strings")
    out = []
    for i, h in enumerate(doc[key]):
        try:
            out.append(bytes.fromhex(h))
        except (TypeError, ValueError):
            raise UsageError(f"{path}: {key}[{i}] is not a hex string") from None
    return out


def cmd_hash(args: argparse.Namespace) -> int:
    doc = _read_json(args.input)
    d = _dispatcher(args)
    try:
        if args.mode == "node":
            digests = _hex_list(doc, "digests_hex", args.input)
            out = d.node_hashes(digests)
        else:
            msgs = _hex_list(doc, "messages_hex", args.input)
            if args.mode == "root":
                from edge.chain.merkle import merkle_root

                root = merkle_root(msgs, d)
                res = {"mode": "root", "backend": d.last or "cpu", "leaves": len(msgs),
                       "root_hex": root.hex()}
                emit(res, args.json, f"{root.hex()}  ({len(msgs)} leaves, {res['backend']})")
                return EXIT_OK
            out = d.sha256_many(msgs) if args.mode == "plain" else d.leaf_hashes(msgs)
    except (PlUnavailable, ValueError) as exc:
        raise UsageError(str(exc)) from None
    res = {"mode": args.mode, "backend": d.last, "digests_hex": [x.hex() for x in out]}
    emit(res, args.json, "\n".join(res["digests_hex"]))
    return EXIT_OK


def cmd_clear(args: argparse.Namespace) -> int:
    from edge.market.book import apply_adders
    from edge.market.clearing import Unit
    from edge.market.cli import book_orders, load_book

    book = load_book(args.book)
    d = _dispatcher(args)
    try:
        if args.rules == "merit":
            if book.generators is None or book.loads is None:
                raise UsageError(f"{args.book} needs \"generators\" and \"loads\" for merit rules")

            def units(items: list[Any]) -> list[Unit]:
                return [Unit(u.id, u.qmin_wh, u.qmax_wh, u.price,
                             u.seq if u.seq is not None else i + 1) for i, u in enumerate(items)]

            r = d.merit_order(units(book.generators), units(book.loads))
            res = {"rules": "merit", **asdict(r)}
            text = (f"merit order: price {_micro(r.price)}, volume {r.volume_wh} Wh, "
                    f"relaxed {r.relaxed}")
        else:
            orders = list(apply_adders(book_orders(book, args.book), book.adders))
            c = d.clear_uniform(orders)
            res = {"rules": "p5", "price": c.price, "volume_wh": c.volume_wh,
                   "regime": c.regime, "fills": [asdict(f) for f in c.fills]}
            text = "\n".join(
                [f"{c.regime}: price {_micro(c.price)}, volume {c.volume_wh} Wh"]
                + [f"  {f.order_id:<16}{f.side:<6}{f.qty_wh:>12}  {f.status}" for f in c.fills])
    except (PlUnavailable, ValueError) as exc:
        raise UsageError(f"{args.book}: {exc}") from None
    res["backend"] = d.last
    emit(res, args.json, text + f"\n(back end: {d.last})")
    return EXIT_OK


def cmd_calibrate(args: argparse.Namespace) -> int:
    sizes = [1, 10, 100, 1000] if args.quick else [1, 10, 100, 1000, 10_000, 100_000]
    try:
        accel = make_backend(args.accelerator, args.bitstream)
        entry = calibrate(accel, sizes, repeats=2 if args.quick else 3)
    except PlError as exc:
        raise UsageError(str(exc)) from None
    path = save_crossover(args.accelerator, entry, Path(args.out) if args.out else None)
    emit({"accelerator": args.accelerator, "file": str(path), **entry}, args.json,
         f"{args.accelerator}: hash from {_from(entry['hash'], 'messages')}, clear from "
         f"{_from(entry['clear'], 'orders')}; written to {path}")
    return EXIT_OK


def _from(size: int | None, what: str) -> str:
    """A crossover batch size for people: None means the accelerator never wins."""
    return "never (the cpu is always faster)" if size is None else f"{size} {what}"


def _micro(price: int | None) -> str:
    return "none" if price is None else f"{price} micro/kWh"


def register(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", metavar="ACTION")

    def common(p: argparse.ArgumentParser, backend: bool = True) -> None:
        if backend:
            p.add_argument("--backend", choices=BACKENDS, default="auto",
                           help="auto: by batch size and the measured crossover")
        p.add_argument("--bitstream", help="overlay .bit for the pynq back end")
        p.add_argument("--json", action="store_true", help="JSON output")

    p = leaf(sub, "info", "register map, back ends available here, crossover",
             "carbon-edge pl info --json")
    p.add_argument("--json", action="store_true", help="JSON output")
    p.set_defaults(func=cmd_info)
    p = leaf(sub, "hash", "SHA-256 of messages (plain, RFC 6962 leaf/node, root)",
             "carbon-edge pl hash --input messages.json --mode root --backend sim")
    p.add_argument("--input", required=True,
                   help='JSON {"messages_hex": [...]} (node mode: {"digests_hex": [...]})')
    p.add_argument("--mode", choices=("plain", "leaf", "node", "root"), default="plain",
                   help="what to hash: messages, Merkle leaves or nodes, or the root")
    common(p)
    p.set_defaults(func=cmd_hash)
    p = leaf(sub, "clear", "clear a book (P5 or merit) on the chosen back end",
             "carbon-edge pl clear --book docs/examples/market/book.json --backend sim")
    p.add_argument("--book", required=True, help="book JSON, as for `carbon-edge market`")
    p.add_argument("--rules", choices=("p5", "merit"), default="p5", help="as for `market clear`")
    common(p)
    p.set_defaults(func=cmd_clear)
    p = leaf(sub, "calibrate", "measure the cpu/accelerator crossover, write it",
             "carbon-edge pl calibrate --quick --out crossover.json")
    p.add_argument("--accelerator", choices=("sim", "pynq"), default="sim",
                   help="sim: the C++ model; pynq: the board's overlay")
    p.add_argument("--quick", action="store_true", help="small sizes only (seconds)")
    p.add_argument("--out", help=f"crossover file (default {CROSSOVER_PATH})")
    common(p, backend=False)
    p.set_defaults(func=cmd_calibrate)
