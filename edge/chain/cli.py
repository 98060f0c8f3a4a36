"""`carbon-edge chain ...`: keys, a demo block, show, verify, export, check a proof."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import time
from pathlib import Path

from edge.chain.block import make_block
from edge.chain.keys import (
    KeyFileError,
    generate_key,
    load_private_key,
    public_id,
    save_private_key,
)
from edge.chain.proofs import check_tx_proof, export_block, header_from_export
from edge.chain.store import AppendError, ChainStore, StoreError
from edge.chain.trust import TrustRecord, head_problem, inbox_heads, load_trust, save_trust
from edge.chain.verify import VerifyReport, verify_store
from edge.cli import EXIT_FAIL, EXIT_OK, UsageError, emit
from edge.cliargs import bounded_int, leaf, nonneg_int


def _store(path: str, must_exist: bool = True) -> ChainStore:
    """Readers open read-only (they never write the file); append-demo creates it."""
    p = Path(path)
    if must_exist and not p.exists():
        raise UsageError(f"no chain store at {path}")
    if p.exists() and not p.is_file():
        raise UsageError(f"{path} is not a file")
    try:
        return ChainStore(p, readonly=must_exist)
    except StoreError as exc:
        raise UsageError(str(exc)) from None


def _key(path: str):
    try:
        return load_private_key(path)
    except KeyFileError as exc:
        raise UsageError(str(exc)) from None


def cmd_keygen(args: argparse.Namespace) -> int:
    key = generate_key()
    try:
        save_private_key(key, args.out, overwrite=args.force)
    except KeyFileError as exc:
        raise UsageError(str(exc)) from None
    pub = public_id(key.public_key())
    emit({"key": str(args.out), "public_id": pub}, args.json, f"wrote {args.out}\npublic id {pub}")
    return EXIT_OK


def cmd_pubkey(args: argparse.Namespace) -> int:
    pub = public_id(_key(args.key).public_key())
    emit({"public_id": pub}, args.json, pub)
    return EXIT_OK


def cmd_append_demo(args: argparse.Namespace) -> int:
    key = _key(args.key)
    with _store(args.db, must_exist=False) as store:
        for _ in range(args.blocks):
            height = store.height() + 1
            txs = [
                {"kind": "demo", "height": height, "i": i, "energy_wh": 1000 + i}
                for i in range(args.txs)
            ]
            block = make_block(
                chain=args.chain, height=height, prev=store.head_hash(), txs=txs,
                ts=int(time.time() * 1000), key=key,
            )
            try:
                store.append(block)
            except AppendError as exc:
                raise UsageError(str(exc)) from None
        head = store.head()
    assert head is not None
    out = {"height": head.height, "hash": head.hash(), "root": head.root, "ntx": head.ntx}
    emit(out, args.json, f"appended; head {head.height} {head.hash()}")
    return EXIT_OK


#: hex digits of a hash or public id shown in the table (--json has them whole)
PREFIX = 12
_SHOW_COLUMNS = ("height", "time (UTC, ISO 8601)", "txs", "hash", "prev", "root", "producer")


def iso_ms(ts_ms: int) -> str:
    """A header's ``ts`` (integer ms since the epoch) as ISO 8601 UTC to the millisecond;
    a value outside the calendar (a damaged store) is shown as the raw integer."""
    try:
        t = dt.datetime.fromtimestamp(ts_ms // 1000, dt.timezone.utc)
    except (OverflowError, OSError, ValueError, TypeError):
        return f"{ts_ms} ms"
    return f"{t:%Y-%m-%dT%H:%M:%S}.{ts_ms % 1000:03d}Z"


def show_table(header: dict, block_hash: str, txs: list | None = None) -> str:
    """One block as a table for people: a header row, then the block's row; hashes and the
    producer cut to their first PREFIX hex digits; then, with ``txs``, one line per
    transaction (its index and canonical JSON)."""
    cells = [str(header["height"]), iso_ms(header["ts"]), str(header["ntx"]),
             *(str(v)[:PREFIX] for v in (block_hash, header["prev"], header["root"],
                                         header["producer"]))]
    widths = [max(len(h), len(c)) for h, c in zip(_SHOW_COLUMNS, cells, strict=True)]
    right = {0, 2}  # numbers right-aligned

    def row(values) -> str:
        return "  ".join(v.rjust(w) if i in right else v.ljust(w)
                         for i, (v, w) in enumerate(zip(values, widths, strict=True))).rstrip()

    lines = [f"chain {header['chain']} (header version {header['version']})",
             row(_SHOW_COLUMNS), row(cells),
             f"hashes and producer: first {PREFIX} hex digits (--json for the whole header)"]
    if txs is not None:
        lines.append("")
        lines.append(f"{'tx':>5}  canonical JSON")
        lines += [f"{i:>5}  {json.dumps(tx, sort_keys=True, separators=(',', ':'))}"
                  for i, tx in enumerate(txs)]
    return "\n".join(lines)


def cmd_show(args: argparse.Namespace) -> int:
    with _store(args.db) as store:
        if store.height() < 0:
            emit({"height": -1}, args.json, "empty chain")
            return EXIT_OK
        height = store.height() if args.height is None else args.height
        try:
            block = store.get(height)
        except KeyError as exc:
            raise UsageError(str(exc.args[0])) from None
    header = json.loads(block.header.to_bytes())
    out = {"hash": block.header.hash(), "header": header}
    if args.txs:
        out["txs"] = block.tx_objects()
    emit(out, args.json, show_table(header, out["hash"], out.get("txs")))
    return EXIT_OK


def _verify(store: ChainStore, args: argparse.Namespace) -> tuple[VerifyReport, TrustRecord | None]:
    """Every check of `chain verify`; the first failure is the report's reason."""

    def failed(reason: str, height: int | None = None, blocks: int = 0) -> tuple:
        return VerifyReport(False, blocks, store.height() if ok_tables else -1, height,
                            reason), None

    ok_tables = False
    problems = store.integrity_problems()
    if problems:
        return failed("SQLite integrity_check: " + "; ".join(problems)[:300])
    ok_tables = store.has_tables()
    if not ok_tables or store.height() < 0:
        return failed("the store holds no blocks (wiped, or not a chain store)")
    try:
        trust = load_trust(Path(args.trust)) if args.trust else None
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    try:
        genesis = store.genesis()
    except (ValueError, TypeError) as exc:
        return failed(f"genesis header does not decode: {exc}", 0)
    if genesis is None:
        return failed("height 0 missing", 0)
    if trust is not None and genesis.chain != trust.chain:
        return failed(f"chain id {genesis.chain!r}, the trust file says {trust.chain!r}", 0)
    # the producer: named on the command line, else pinned by the trust file, else the genesis
    producers = args.producer or [trust.producer if trust else genesis.producer]
    report = verify_store(store, producers)
    if not report.ok:
        return report, None
    heads = [trust.head()] if trust else []
    if args.inbox != "none":
        inbox = Path(args.inbox) if args.inbox else store.path.with_name("inbox.db")
        try:
            heads += inbox_heads(inbox, genesis.producer)
        except ValueError as exc:
            return failed(str(exc), None, report.blocks)
    problem = head_problem(store, heads)
    if problem is not None:
        return failed(problem[1], problem[0], report.blocks)
    top = store.head()
    assert top is not None
    return report, TrustRecord(top.chain, top.producer, top.height, top.hash())


def cmd_verify(args: argparse.Namespace) -> int:
    if args.trust and Path(args.trust).exists() and Path(args.db).exists() \
            and Path(args.trust).resolve() == Path(args.db).resolve():
        raise UsageError("--trust must not be the chain store itself")
    try:
        store = _store(args.db)
    except UsageError:
        if Path(args.db).exists():  # there, but not a chain store: the check failed
            report = VerifyReport(False, 0, -1, None, f"{args.db} is not an SQLite chain store")
            emit(report.as_dict(), args.json, f"FAILED: {report.reason}")
            return EXIT_FAIL
        raise
    with store:
        report, record = _verify(store, args)
    if report.ok and record is not None and args.trust:
        save_trust(record, Path(args.trust))
    if report.ok:
        text = f"ok: {report.blocks} blocks, head {report.head}"
    elif report.bad_height is None:
        text = f"FAILED: {report.reason}"
    else:
        text = f"FAILED at height {report.bad_height}: {report.reason}"
    emit(report.as_dict(), args.json, text)
    return EXIT_OK if report.ok else EXIT_FAIL


def cmd_export(args: argparse.Namespace) -> int:
    with _store(args.db) as store:
        try:
            block = store.get(args.height)
        except KeyError as exc:
            raise UsageError(str(exc.args[0])) from None
    doc = export_block(block)
    text = json.dumps(doc, indent=2, sort_keys=True)
    if args.out:
        Path(args.out).write_text(text + "\n")
        emit({"out": args.out, "txs": len(doc["txs"])}, args.json, f"wrote {args.out}")
    else:
        print(text)
    return EXIT_OK


def cmd_check_proof(args: argparse.Namespace) -> int:
    try:
        doc = json.loads(Path(args.file).read_text())
        header = header_from_export(doc)
        entries = doc["txs"]
    except (json.JSONDecodeError, ValueError, KeyError, TypeError) as exc:
        raise UsageError(f"{args.file} is not a block export: {exc}") from None
    problems = []
    if not header.signature_ok():
        problems.append("header signature does not verify")
    if args.producer and header.producer != args.producer:
        problems.append("header is signed by another producer")
    if args.tx is not None:
        entries = [e for e in entries if e.get("index") == args.tx]
        if not entries:
            raise UsageError(f"no transaction {args.tx} in the export")
    checks = [check_tx_proof(header, e) for e in entries]
    problems += [f"tx {c.index}: {c.reason}" for c in checks if not c.ok]
    ok = not problems
    out = {"ok": ok, "height": header.height, "checked": len(checks), "problems": problems}
    emit(out, args.json, "ok" if ok else "FAILED: " + "; ".join(problems))
    return EXIT_OK if ok else EXIT_FAIL


def register(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(metavar="ACTION")

    def action(name: str, func, help_: str, example: str) -> argparse.ArgumentParser:
        p = leaf(sub, name, help_, f"carbon-edge chain {name} {example}")
        p.add_argument("--json", action="store_true", help="machine-readable output")
        p.set_defaults(func=func)
        return p

    p = action("keygen", cmd_keygen, "generate an Ed25519 producer key (PEM, mode 0600)",
               "--out edge.pem")
    p.add_argument("--out", required=True, help="where to write the private key")
    p.add_argument("--force", action="store_true", help="overwrite an existing key file")
    p = action("pubkey", cmd_pubkey, "print the public id (hex) of a private key",
               "--key edge.pem")
    p.add_argument("--key", required=True)
    p = action("append-demo", cmd_append_demo, "append demo blocks to a chain store",
               "--db chain.db --key edge.pem --blocks 3")
    p.add_argument("--db", required=True, help="chain store (SQLite), created if absent")
    p.add_argument("--key", required=True, help="producer private key (PEM)")
    p.add_argument("--chain", default="demo", help="chain id")
    p.add_argument("--blocks", type=bounded_int(1, 10_000), default=1, help="blocks to append")
    p.add_argument("--txs", type=bounded_int(0, 100_000), default=10,
                   help="transactions per block")
    p = action("show", cmd_show, "show a block header (the head by default)",
               "--db chain.db --height 1 --txs")
    p.add_argument("--db", required=True)
    p.add_argument("--height", type=nonneg_int)
    p.add_argument("--txs", action="store_true", help="include the transactions")
    p = action("verify", cmd_verify,
               "verify a whole stored chain read-only; exit 1 and one line on any defect",
               "--db chain.db --trust chain.trust")
    p.add_argument("--db", required=True)
    p.add_argument("--producer", action="append",
                   help="allowed producer public id (repeatable; default: the genesis block's)")
    p.add_argument("--trust", help="trust file: pins chain, producer and the last verified head; "
                   "created on first use, advanced after each successful verify")
    p.add_argument("--inbox", help="the edge's inbox.db whose written and anchored heads the "
                   "chain must still hold (default: inbox.db next to --db; 'none' to skip)")
    p = action("export", cmd_export, "export a block with an inclusion proof per transaction",
               "--db chain.db --height 1 --out block.json")
    p.add_argument("--db", required=True)
    p.add_argument("--height", type=nonneg_int, required=True)
    p.add_argument("--out", help="file to write (stdout by default)")
    p = action("check-proof", cmd_check_proof, "check an exported block's signature and proofs",
               "--file block.json")
    p.add_argument("--file", required=True)
    p.add_argument("--producer", help="require this producer public id")
    p.add_argument("--tx", type=nonneg_int, help="check only this transaction index")
