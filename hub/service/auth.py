"""Authenticate a signed edge request (edge.sync.signing) against the registry.

Order of checks, cheapest and least revealing first: headers present and
well formed, timestamp inside the window, signature by the claimed key
(the id IS the public key, so this needs no lookup), then the registry:
unknown 401, revoked 403.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from edge.sync.signing import HEADER_ID, HEADER_SIG, HEADER_TS, request_signature_ok
from hub.service.db import Database
from hub.service.errors import AuthError
from hub.service.registry import EdgeInfo, active_edge

_HEX64 = re.compile(r"^[0-9a-f]{64}$")
_TS = re.compile(r"^[0-9]{1,16}$")


def authenticate(
    db: Database,
    window_s: int,
    method: str,
    path_with_query: str,
    headers: Mapping[str, str],
    body: bytes,
    now_ms: int,
) -> EdgeInfo:
    edge_id, ts, sig = headers.get(HEADER_ID), headers.get(HEADER_TS), headers.get(HEADER_SIG)
    if not edge_id or not ts or not sig:
        raise AuthError("missing_auth",
                        f"signed requests need {HEADER_ID}, {HEADER_TS}, {HEADER_SIG}")
    if not _HEX64.fullmatch(edge_id):
        raise AuthError("unknown_edge", f"{HEADER_ID} is not 64 lowercase hex digits")
    if not _TS.fullmatch(ts):
        raise AuthError("stale_request", f"{HEADER_TS} is not unix milliseconds")
    skew_ms = abs(int(ts) - now_ms)
    if skew_ms > window_s * 1000:
        raise AuthError("stale_request", f"timestamp is {skew_ms // 1000} s from the hub's clock "
                        f"(window {window_s} s)")
    if not request_signature_ok(edge_id, method, path_with_query, ts, body, sig):
        raise AuthError("bad_signature", "request signature does not verify for this edge id")
    return active_edge(db, edge_id)
