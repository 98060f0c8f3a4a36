"""Portable proofs: a block exported with an inclusion proof for each transaction.

The export is self-contained JSON so that anyone can check, offline and
without our store, that a transaction is in a block signed by a producer:

    {"header": {...signed header...},
     "txs": [{"index": 0, "tx": {...}, "proof": ["<hex>", ...]}, ...]}
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from edge.chain.block import Block, BlockHeader
from edge.chain.merkle import Hasher, levels, proof_from_levels, verify_inclusion
from edge.protocol.canonical import canonical


def export_block(block: Block, hasher: Hasher | None = None) -> dict[str, Any]:
    tree = levels(block.txs, hasher) if block.txs else [[]]
    return {
        "header": json.loads(block.header.to_bytes()),
        "txs": [
            {
                "index": i,
                "tx": json.loads(tx),
                "proof": [p.hex() for p in proof_from_levels(tree, i)],
            }
            for i, tx in enumerate(block.txs)
        ],
    }


@dataclass(frozen=True)
class ProofCheck:
    index: int
    ok: bool
    reason: str | None = None


def check_tx_proof(header: BlockHeader, entry: dict[str, Any]) -> ProofCheck:
    """Check one exported transaction against a header (whose signature is checked apart)."""
    index = entry.get("index")
    if not isinstance(index, int):
        return ProofCheck(-1, False, "entry has no integer index")
    try:
        leaf = canonical(entry["tx"])
        proof = [bytes.fromhex(p) for p in entry["proof"]]
    except (KeyError, TypeError, ValueError) as exc:
        return ProofCheck(index, False, f"entry malformed: {exc}")
    if not verify_inclusion(leaf, index, header.ntx, proof, bytes.fromhex(header.root)):
        return ProofCheck(index, False, "inclusion proof does not lead to the header's root")
    return ProofCheck(index, True)


def header_from_export(doc: dict[str, Any]) -> BlockHeader:
    raw = doc.get("header")
    if not isinstance(raw, dict):
        raise ValueError("export has no header object")
    try:
        return BlockHeader.from_bytes(canonical(raw))
    except TypeError as exc:
        raise ValueError(f"header malformed: {exc}") from None
