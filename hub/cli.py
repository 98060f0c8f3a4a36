"""`carbon-edge hub ...`: serve the hub, keep the edge registry, make main blocks, check receipts.

Every action that touches the database takes --db (a SQLAlchemy URL; default
$CARBON_HUB_DATABASE_URL or sqlite:///hub.db) and brings the schema up to
date first, so an operator never runs a separate migration by accident.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import Any

from edge import cliargs
from edge.chain.keys import KeyFileError, load_private_key, public_id
from edge.cli import EXIT_FAIL, EXIT_OK, UsageError, emit
from edge.clock import SYSTEM
from edge.sync.receipts import check_anchored_tx, check_receipt


def _db(url: str):  # noqa: ANN202
    from hub.service.db import Database, DatabaseUrlError

    try:
        return Database(url)
    except DatabaseUrlError as exc:
        raise UsageError(str(exc)) from None
    except Exception as exc:  # noqa: BLE001 - a driver error names the problem; show it plainly
        raise UsageError(f"cannot open the database {url!r}: {exc.__class__.__name__}: "
                         f"{str(exc).splitlines()[0] if str(exc) else ''}") from None


def _hub_error(exc: Exception) -> UsageError:
    return UsageError(getattr(exc, "message", str(exc)))


def cmd_migrate(args: argparse.Namespace) -> int:
    from hub.service.db import current_revision

    db = _db(args.db)
    rev = current_revision(db.engine)
    emit({"database": db.dialect, "revision": rev}, args.json, f"schema at revision {rev}")
    return EXIT_OK


def cmd_register(args: argparse.Namespace) -> int:
    from hub.service.errors import HubError
    from hub.service.registry import register_edge

    try:
        info = register_edge(_db(args.db), args.name, args.pubkey, args.site,
                             now_ms=SYSTEM.wall_ms())
    except HubError as exc:
        raise _hub_error(exc) from None
    emit(info.as_dict(), args.json, f"registered {info.name} {info.edge_id}")
    return EXIT_OK


def cmd_revoke(args: argparse.Namespace) -> int:
    from hub.service.errors import HubError
    from hub.service.registry import revoke_edge

    try:
        info = revoke_edge(_db(args.db), args.edge, now_ms=SYSTEM.wall_ms())
    except HubError as exc:
        raise _hub_error(exc) from None
    emit(info.as_dict(), args.json, f"revoked {info.name} {info.edge_id}")
    return EXIT_OK


def cmd_list(args: argparse.Namespace) -> int:
    from hub.service.registry import list_edges

    edges = [e.as_dict() for e in list_edges(_db(args.db))]
    header = f"{'name':20} {'status':8} {'site':12} edge id"
    text = "\n".join([header] + [f"{e['name']:20} {e['status']:8} {e['site'] or '-':12} "
                                 f"{e['edge_id']}" for e in edges]) \
        if edges else "no edges registered"
    emit({"edges": edges}, args.json, text)
    return EXIT_OK


def _hub_key(path: str):  # noqa: ANN202
    try:
        return load_private_key(path)
    except KeyFileError as exc:
        raise UsageError(str(exc)) from None


def cmd_make_main(args: argparse.Namespace) -> int:
    from hub.service.errors import HubError
    from hub.service.mainchain import make_main_block

    try:
        made = make_main_block(_db(args.db), _hub_key(args.hub_key), SYSTEM.wall_ms())
    except HubError as exc:  # another key than the chain's: refused, nothing appended
        raise _hub_error(exc) from None
    if made is None:
        emit({"created": False}, args.json, "no edge head moved; no main block made")
    else:
        emit({"created": True, **made.as_dict()}, args.json,
             f"main block {made.header.height} anchors {len(made.entries)} edge heads")
    return EXIT_OK


def cmd_check_receipt(args: argparse.Namespace) -> int:
    try:
        doc = json.loads(Path(args.file).read_text())
    except json.JSONDecodeError as exc:
        raise UsageError(f"{args.file} is not JSON: {exc.msg} at char {exc.pos}") from None
    if not isinstance(doc, dict):
        raise UsageError(f"{args.file} holds no receipt object")
    if "anchor" in doc:
        kind, checked = "tx_proof", [check_anchored_tx(doc, args.hub, args.edge)]
    elif "receipts" in doc:
        kind = "receipts"
        if not isinstance(doc["receipts"], list) or not doc["receipts"]:
            raise UsageError(f"{args.file} has an empty receipts list")
        checked = [check_receipt(r, args.hub, args.edge) for r in doc["receipts"]]
    else:
        kind, checked = "receipt", [check_receipt(doc, args.hub, args.edge)]
    problems = [f"#{i}: {p}" if len(checked) > 1 else p
                for i, ps in enumerate(checked) for p in ps]
    ok = not problems
    emit({"ok": ok, "kind": kind, "checked": len(checked), "problems": problems}, args.json,
         "ok" if ok else "FAILED: " + "; ".join(problems))
    return EXIT_OK if ok else EXIT_FAIL


def _read_json(path: str) -> Any:
    try:
        return json.loads(Path(path).read_text())
    except json.JSONDecodeError as exc:
        raise UsageError(f"{path} is not JSON: {exc.msg} at char {exc.pos}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"{path}: {exc.__class__.__name__}: {exc}") from None


def cmd_publish(args: argparse.Namespace) -> int:
    """Allocate, sign and publish in one step (what POST /v1/prices/allocate does)."""
    from pydantic import ValidationError

    from hub.allocation.api import PricesRequest, price_ladder
    from hub.allocation.game import GameError
    from hub.allocation.schema import parse_game
    from hub.allocation.signal import carbon_bid_field, protocol_signal
    from hub.service.errors import HubError
    from hub.service.identity import check_key
    from hub.service.mainchain import producer
    from hub.service.prices import publish

    doc = _read_json(args.game)
    try:
        req = PricesRequest(game=parse_game(doc), p_low=args.p_low, p_high=args.p_high,
                            method=args.method)
    except GameError as exc:
        raise UsageError(f"{args.game}: {exc}") from None
    except ValidationError as exc:
        err = exc.errors()[0]
        raise UsageError(f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}") from None
    advice = None
    if args.carbon_bid:
        try:
            advice = carbon_bid_field(_read_json(args.carbon_bid))
        except ValueError as exc:
            raise UsageError(f"{args.carbon_bid}: {exc}") from None
    try:
        _game, _res, lad, tiers = price_ladder(req)
        fields = protocol_signal(lad, tiers, site=args.site, valid_from=args.valid_from,
                                 valid_to=args.valid_to, intensity_g_kwh=args.intensity,
                                 carbon_bid=advice)
        db = _db(args.db)
        key = _hub_key(args.hub_key)
        check_key(key, producer(db))
        signal = publish(db, key, fields, now_ms=SYSTEM.wall_ms())
    except HubError as exc:
        raise _hub_error(exc) from None
    emit(signal, args.json, f"published price signal for {args.site} at ts {signal['ts']}")
    return EXIT_OK


def _check_loop_file(path: Path | None) -> None:
    """The allocation loop's file, read before any worker starts (SettingsError when bad)."""
    from hub.period.config import LoopConfigError, load_loop_file
    from hub.service.settings import SettingsError

    try:
        load_loop_file(path)
    except LoopConfigError as exc:
        raise SettingsError(str(exc)) from None


def cmd_serve(args: argparse.Namespace) -> int:
    from pydantic import ValidationError

    from hub.service.errors import HubError
    from hub.service.identity import hub_key
    from hub.service.server import serve
    from hub.service.settings import Settings, SettingsError

    try:
        settings = Settings.load(
            database_url=args.db, hub_key_path=args.hub_key, main_interval_s=args.main_interval,
            operator_token_file=args.operator_token_file, ssl_certfile=args.ssl_certfile,
            ssl_keyfile=args.ssl_keyfile, allocation_config=args.allocation_config,
            allocation_schedule=args.allocation_schedule, scoring_schedule=args.scoring_schedule)
        settings.token()
        _check_loop_file(settings.allocation_config)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"]) or "settings"
        raise UsageError(f"bad setting {where}: {err['msg']}") from None
    except SettingsError as exc:
        raise UsageError(str(exc)) from None
    for path in (settings.ssl_certfile, settings.ssl_keyfile):
        if path is not None and not path.is_file():
            raise UsageError(f"TLS file {path} does not exist")
    db = _db(settings.database_url)  # migrate once before the workers start
    try:
        hub_id = public_id(hub_key(db, settings.hub_key_path).public_key())
    except (KeyFileError, HubError) as exc:
        raise UsageError(str(exc)) from None
    finally:
        db.close()
    scheme = "https" if settings.ssl_certfile else "http"
    print(json.dumps({"event": "serve", "hub_id": hub_id, "host": args.host, "port": args.port,
                      "scheme": scheme, "database": settings.database_url.split("@")[-1]}),
          flush=True)
    serve(settings, args.host, args.port, workers=args.workers, log_level=args.log_level)
    return EXIT_OK


def register(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(metavar="ACTION")
    default_db = os.environ.get("CARBON_HUB_DATABASE_URL", "sqlite:///hub.db")

    def action(name: str, func, help_: str, example: str,
               db: bool = True) -> argparse.ArgumentParser:
        p = cliargs.leaf(sub, name, help_, f"carbon-edge hub {name} {example}".rstrip(),
                         allow_abbrev=False)
        p.add_argument("--json", action="store_true", help="machine-readable output")
        if db:
            p.add_argument("--db", default=default_db,
                           help="SQLAlchemy URL (sqlite:///hub.db, postgresql+psycopg://...)")
        p.set_defaults(func=func)
        return p

    p = action("serve", cmd_serve, "serve the hub API under uvicorn (settings: CARBON_HUB_* "
               "variables, overridden by these options)",
               "--db sqlite:///hub.db --hub-key hub.pem --port 8000")
    p.add_argument("--hub-key", help="hub Ed25519 key (PEM); created only for a database "
                   "without main blocks (default hub-key.pem)")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on")
    p.add_argument("--port", type=cliargs.port, default=8000, help="TCP port")
    p.add_argument("--workers", type=cliargs.bounded_int(1, 256), default=1,
                   help="uvicorn worker processes")
    p.add_argument("--main-interval", type=cliargs.nonneg_float,
                   help="seconds between main blocks (0: off)")
    p.add_argument("--operator-token-file", help="file holding the operator bearer token "
                   "(or set CARBON_HUB_OPERATOR_TOKEN); never on the command line")
    p.add_argument("--ssl-certfile", help="serve HTTPS with this certificate chain (PEM)")
    p.add_argument("--ssl-keyfile", help="the certificate's private key (PEM)")
    p.add_argument("--allocation-config", help="the allocation loop's file (JSON, "
                   "docs/hub.md); default: built-in defaults")
    p.add_argument("--allocation-schedule", action="store_const", const=True, default=None,
                   help="run the allocation loop every market period")
    p.add_argument("--scoring-schedule", action="store_const", const=True, default=None,
                   help="record the validator scoring every epoch")
    p.add_argument("--log-level", default="info",
                   choices=["critical", "error", "warning", "info", "debug", "trace"])
    action("migrate", cmd_migrate, "create or upgrade the hub's schema (Alembic)",
           "--db sqlite:///hub.db")
    p = action("register-edge", cmd_register, "register an edge's public key",
               "--name edge-1 --pubkey \"$(carbon-edge chain pubkey --key edge.pem)\"")
    p.add_argument("--name", required=True, help="operator's name for the edge (unique)")
    p.add_argument("--pubkey", required=True, help="edge public id (64 hex, `chain pubkey`)")
    p.add_argument("--site", help="site id the edge serves")
    p = action("revoke-edge", cmd_revoke, "revoke an edge key for good", "--edge edge-1")
    p.add_argument("--edge", required=True, help="edge id or name")
    action("list-edges", cmd_list, "list registered edges", "--json")
    p = action("make-main-block", cmd_make_main, "anchor every moved edge head now",
               "--hub-key hub.pem")
    p.add_argument("--hub-key", required=True, help="hub Ed25519 key (PEM)")
    p = action("check-receipt", cmd_check_receipt,
               "check a receipt (or a tx proof with anchor) offline; exit 1 when invalid",
               "--file receipt.json --hub HUB_ID", db=False)
    p.add_argument("--file", required=True)
    p.add_argument("--hub", required=True, help="the hub's public id (pinned)")
    p.add_argument("--edge", help="require the receipt to be for this edge id")
    p = action("publish-prices", cmd_publish,
               "allocate a market's carbon (Owen ladder) and publish the adders as a site's "
               "signed price signal",
               "--hub-key hub.pem --game docs/examples/owen/market.json --site site-1 "
               "--valid-from 1700000000 --valid-to 1700000900 --intensity 400")
    p.add_argument("--hub-key", required=True)
    p.add_argument("--game", required=True,
                   help="JSON: a game in market form (as for `owen prices`)")
    p.add_argument("--p-low", type=cliargs.bounded_int(0, 1_000_000), default=20,
                   help="$/t between a_min and a_avg")
    p.add_argument("--p-high", type=cliargs.bounded_int(0, 1_000_000), default=40,
                   help="$/t above a_avg")
    p.add_argument("--method", choices=("auto", "exact", "sampled"), default="auto",
                   help="Owen values: exact, sampled, or by the game's size")
    p.add_argument("--site", required=True)
    p.add_argument("--valid-from", type=cliargs.bounded_int(0, 1 << 40), required=True,
                   help="interval start (unix s)")
    p.add_argument("--valid-to", type=cliargs.bounded_int(0, 1 << 40), required=True)
    p.add_argument("--intensity", type=cliargs.bounded_int(0, 100_000), required=True,
                   help="grid intensity, g CO2 per kWh")
    p.add_argument("--carbon-bid", metavar="FILE",
                   help="JSON: a bid advice (`carbon-market advise --json`) carried in the "
                        "signal as carbon_bid")
