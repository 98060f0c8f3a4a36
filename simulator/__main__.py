"""`python -m simulator run`: what `make sim` runs.

The whole-substation day is being built (issue 6). Until it lands, this runs
the chain demo: a producer key, a few signed blocks of demo transactions, a
full verify and an exported inclusion proof checked offline.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path


def chain_demo(workdir: Path) -> dict:
    from edge.chain.block import make_block
    from edge.chain.keys import generate_key, public_id, save_private_key
    from edge.chain.proofs import check_tx_proof, export_block, header_from_export
    from edge.chain.store import ChainStore
    from edge.chain.verify import verify_store

    key = generate_key()
    save_private_key(key, workdir / "edge.pem")
    with ChainStore(workdir / "chain.db") as store:
        for h in range(4):
            txs = [{"kind": "demo", "gw": f"gw{i}", "energy_wh": 250 * (i + 1)} for i in range(8)]
            store.append(make_block(chain="demo", height=h, prev=store.head_hash(), txs=txs,
                                    ts=int(time.time() * 1000), key=key))
        report = verify_store(store, [public_id(key.public_key())])
        export = export_block(store.get(2))
    header = header_from_export(export)
    proofs_ok = all(check_tx_proof(header, e).ok for e in export["txs"])
    return {"demo": "chain", "workdir": str(workdir), "verify": report.as_dict(),
            "exported_block": 2, "proofs_ok": proofs_ok and header.signature_ok()}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m simulator")
    p.add_argument("command", choices=["run"])
    p.add_argument("--out", help="keep the demo's files here (a temporary folder otherwise)")
    args = p.parse_args(argv)
    print("note: the whole-substation simulator is not built yet; running the chain demo.",
          file=sys.stderr)
    if args.out:
        Path(args.out).mkdir(parents=True, exist_ok=True)
        result = chain_demo(Path(args.out))
    else:
        with tempfile.TemporaryDirectory() as tmp:
            result = chain_demo(Path(tmp))
    print(json.dumps(result, indent=2))
    return 0 if result["verify"]["ok"] and result["proofs_ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
