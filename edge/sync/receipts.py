"""Anchor receipts: proof that a main-chain block signed by the hub commits to an edge head.

    {"header": <main-chain BlockHeader as JSON>, "index": i,
     "tx": {"edge": <edge id>, "height": h, "hash": <edge block hash>},
     "proof": [<hex>, ...]}

Checked with nothing but the hub's public id: the header's signature and
producer, the main chain id, and the RFC 6962 inclusion proof of the
canonical `tx` under the header's root. The hub's `check-receipt` command and
the edge's sync client both call `check_receipt`.
"""

from __future__ import annotations

from typing import Any

from edge.chain.block import BlockHeader
from edge.chain.merkle import verify_inclusion
from edge.protocol.canonical import canonical

MAIN_CHAIN = "main"


def receipt_header(doc: Any) -> BlockHeader:
    """The main-chain header of a receipt; ValueError when it is not one."""
    if not isinstance(doc, dict) or not isinstance(doc.get("header"), dict):
        raise ValueError("receipt has no header object")
    try:
        return BlockHeader.from_bytes(canonical(doc["header"]))
    except (TypeError, ValueError) as exc:
        raise ValueError(f"receipt header malformed: {exc}") from None


def main_header_problems(header: BlockHeader, hub_id: str) -> list[str]:
    """What is wrong with a header that should be the pinned hub's main-chain block."""
    problems = []
    if header.chain != MAIN_CHAIN:
        problems.append(f"header is on chain {header.chain!r}, not {MAIN_CHAIN!r}")
    if header.producer != hub_id:
        problems.append("header is not produced by the pinned hub key")
    if not header.signature_ok():
        problems.append("header signature does not verify")
    return problems


def check_receipt(
    doc: Any, hub_id: str, edge_id: str | None = None, edge_hash: str | None = None
) -> list[str]:
    """Every problem with a receipt (empty list: valid). Never raises for bad input."""
    try:
        header = receipt_header(doc)
    except ValueError as exc:
        return [str(exc)]
    problems = main_header_problems(header, hub_id)
    tx, index, proof_hex = doc.get("tx"), doc.get("index"), doc.get("proof")
    if not isinstance(tx, dict) or set(tx) != {"edge", "height", "hash"}:
        return problems + ["tx must be an object with edge, height and hash"]
    if edge_id is not None and tx["edge"] != edge_id:
        problems.append("receipt is for another edge")
    if edge_hash is not None and tx["hash"] != edge_hash:
        problems.append("anchored hash differs from the edge's block at that height")
    if not isinstance(index, int) or isinstance(index, bool):
        return problems + ["index must be an integer"]
    try:
        proof = [bytes.fromhex(p) for p in proof_hex]
        leaf = canonical(tx)
        root = bytes.fromhex(header.root)
    except (TypeError, ValueError) as exc:
        return problems + [f"proof malformed: {exc}"]
    if not verify_inclusion(leaf, index, header.ntx, proof, root):
        problems.append("inclusion proof does not lead to the header's root")
    return problems


def check_anchored_tx(doc: Any, hub_id: str, edge_id: str | None = None) -> list[str]:
    """Check a transaction proof up to a main-chain anchor (GET .../txs/{idx}/proof).

    tx -> edge header (inclusion proof, header signed by its producer) ->
    each following edge header links to the one before -> the last one's
    hash is anchored by a receipt signed by the hub. Empty list: valid.
    """
    from edge.chain.proofs import check_tx_proof

    if not isinstance(doc, dict):
        return ["proof document must be an object"]
    try:
        header = receipt_header(doc)
    except ValueError as exc:
        return [str(exc).replace("receipt", "edge block")]
    problems = []
    if edge_id is not None and header.producer != edge_id:
        problems.append("edge header is signed by another producer")
    if not header.signature_ok():
        problems.append("edge header signature does not verify")
    check = check_tx_proof(header, doc)
    if not check.ok:
        problems.append(f"tx {check.index}: {check.reason}")
    anchor = doc.get("anchor")
    if not isinstance(anchor, dict):
        return problems + ["no anchor: the block is not yet committed to by a main block"]
    last = header
    for raw in anchor.get("link") or []:
        try:
            nxt = receipt_header({"header": raw})
        except ValueError as exc:
            return problems + [f"link header malformed: {exc}"]
        if nxt.prev != last.hash() or nxt.height != last.height + 1:
            return problems + [f"link breaks at height {nxt.height}"]
        if nxt.producer != header.producer or not nxt.signature_ok():
            return problems + [f"link header {nxt.height} is not signed by the edge"]
        last = nxt
    problems += check_receipt(anchor.get("receipt"), hub_id, edge_id=header.producer,
                              edge_hash=last.hash())
    receipt = anchor.get("receipt")
    if isinstance(receipt, dict) and isinstance(receipt.get("tx"), dict):
        if receipt["tx"].get("height") != last.height:
            problems.append("receipt anchors another height than the link ends at")
    return problems
