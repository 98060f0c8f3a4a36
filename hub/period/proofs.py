"""Checking a main-chain record with nothing but the hub's pinned id (what an edge does).

A record comes as ``{"header": <main header>, "index": i, "tx": {...},
"proof": [hex, ...]}`` (one entry of GET /v1/periods/{period}'s block, with
the header beside it, or the ``record`` of GET /v1/main/supervisors). It is
good when the header is on the main chain, produced and signed by the hub,
the transaction is a well-formed record (hub.period.records) and its
inclusion proof leads to the header's root. The checks are the edge's own:
edge.chain.proofs.check_tx_proof and the header's signature.
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from edge.chain.proofs import check_tx_proof, header_from_export
from edge.sync.receipts import main_header_problems
from hub.period.records import parse_record


def check_record(doc: Any, hub_id: str) -> list[str]:
    """Every problem with a record (empty list: good). Never raises for bad input."""
    try:
        header = header_from_export(doc)
    except (ValueError, TypeError, AttributeError) as exc:
        return [f"header: {exc}"]
    problems = main_header_problems(header, hub_id)
    try:
        parse_record(doc.get("tx"))
    except (ValueError, ValidationError) as exc:
        problems.append(f"tx is not a record: {str(exc).splitlines()[0]}")
    got = check_tx_proof(header, doc)
    if not got.ok:
        problems.append(got.reason or "inclusion proof does not verify")
    return problems
