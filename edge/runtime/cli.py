"""``carbon-edge edge run | check-config | status``: the edge hub service from the shell."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import httpx

from edge.cli import EXIT_FAIL, EXIT_OK, UsageError, emit
from edge.cliargs import leaf, read_text
from edge.runtime.config import ConfigError, check_runtime_files, config_warnings, load_config


def _load(path: str):
    try:
        return load_config(path)
    except ConfigError as exc:
        raise UsageError("config is invalid: " + "; ".join(exc.problems)) from None


def cmd_check(args: argparse.Namespace) -> int:
    text = read_text(args.config)  # missing or unreadable: an input error (exit 2), not a check
    try:
        cfg = load_config(args.config)
        problems = check_runtime_files(cfg)
    except ConfigError as exc:
        problems = exc.problems
        cfg = None
    ok = not problems
    warnings = config_warnings(text)
    out = {"ok": ok, "problems": problems, "warnings": warnings}
    if cfg is not None:
        out.update(site=cfg.site.id, gateways=len(cfg.gateways), meters=len(cfg.meters),
                   interval_s=cfg.market.interval_s, sync=cfg.sync is not None)
    if not args.json:
        for w in warnings:
            print(f"warning: {w}", file=sys.stderr)
    emit(out, args.json, "config ok" if ok else "config has problems:\n  " + "\n  ".join(problems))
    return EXIT_OK if ok else EXIT_FAIL


def cmd_run(args: argparse.Namespace) -> int:
    cfg = _load(args.config)
    problems = check_runtime_files(cfg)
    if problems:
        raise UsageError("cannot start: " + "; ".join(problems))
    from edge.runtime import gcpolicy, logs
    from edge.runtime.service import EdgeService, StartupRefused

    logs.setup(cfg.log.json_lines or args.json_logs, cfg.log.level)
    try:
        service = EdgeService(cfg)
    except StartupRefused as exc:
        raise UsageError(f"cannot start: {exc}") from None
    gcpolicy.settle()
    return service.run_forever()


def _status_url(args: argparse.Namespace) -> str:
    if args.url:
        return args.url.rstrip("/")
    if not args.config:
        raise UsageError("give --url of the status page or --config of the running edge")
    cfg = _load(args.config)
    f = Path(cfg.site.data_dir) / "status.json"
    if not f.is_file():
        raise UsageError(f"no {f}: is the edge running with the status page enabled?")
    return json.loads(f.read_text())["url"]


def _counts(counts: object) -> str:
    """``kind n, kind n`` for a counter table (never a Python dict's repr)."""
    if isinstance(counts, dict):
        return ", ".join(f"{k} {v}" for k, v in sorted(counts.items())) or "none"
    return str(counts)


def _price(price: object) -> str:
    return "no price" if price is None else f"{price} micro/kWh"


def cmd_status(args: argparse.Namespace) -> int:
    url = _status_url(args)
    try:
        doc = httpx.get(f"{url}/api/status", timeout=5).json()
    except httpx.HTTPError as exc:
        print(f"edge not reachable at {url}: {exc}")
        return EXIT_FAIL
    chain, counters = doc["chain"], doc["counters"]
    text = (
        f"site {doc['site']}: broker connected {doc['broker_connected']}, "
        f"chain height {chain['height']} ({chain['pending']} pending), "
        f"sync {(doc.get('sync') or {}).get('state') or 'off'}\n"
        f"accepted {_counts(counters['accepted'])}\nrejected {_counts(counters['rejected'])}\n"
        f"open orders {len(doc['book'])}, last results "
        + (", ".join(f"{r['interval']}/{r['round']}{'*' if r['final'] else ''}"
                     f" at {_price(r.get('price'))}" for r in doc["results"][:5]) or "none")
    )
    emit(doc, args.json, text)
    return EXIT_OK


def _when(text: str) -> int:
    from edge.runtime.export import parse_when

    try:
        return parse_when(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def cmd_export(args: argparse.Namespace) -> int:
    from edge.runtime.export import export, open_inbox

    db = open_inbox(args.db_dir, args.start, args.end)
    if args.csv == "-":
        n = export(db, args.start, args.end, sys.stdout)
    else:
        with open(args.csv, "w", newline="", encoding="utf-8") as fh:
            n = export(db, args.start, args.end, fh)
        print(f"wrote {n} rows to {args.csv}")
    return EXIT_OK


def register(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(metavar="ACTION")
    p = leaf(sub, "run", "run the edge hub service until SIGTERM",
             "carbon-edge edge run --config docs/examples/site-local.toml")
    p.add_argument("--config", required=True, help="site TOML file")
    p.add_argument("--json-logs", action="store_true", help="JSON-lines logs (or [log] json)")
    p.set_defaults(func=cmd_run)
    p = leaf(sub, "check-config", "validate a site TOML file and its key files",
             "carbon-edge edge check-config --config docs/examples/site-local.toml")
    p.add_argument("--config", required=True)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_check)
    p = leaf(sub, "status", "ask a running edge for its status",
             "carbon-edge edge status --url http://127.0.0.1:8080")
    p.add_argument("--config", help="site TOML (finds the status page via the data folder)")
    p.add_argument("--url", help="status page base URL, e.g. http://127.0.0.1:8080")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_status)
    p = leaf(sub, "export", "export intervals (orders, results, settlements) as CSV, read-only",
             "carbon-edge edge export --db-dir edge-data --from 2026-06-21 --to 2026-06-22 "
             "--csv day.csv")
    p.add_argument("--db-dir", required=True, help="the edge's data folder (holds inbox.db)")
    p.add_argument("--from", dest="start", type=_when, required=True,
                   help="first interval start, ISO date or time (UTC unless a zone is given)")
    p.add_argument("--to", dest="end", type=_when, required=True,
                   help="end, exclusive (same form as --from)")
    p.add_argument("--csv", required=True, metavar="FILE", help="CSV file to write, - for stdout")
    p.set_defaults(func=cmd_export)
