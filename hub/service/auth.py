"""Authenticate a signed edge request (edge.sync.signing) in two steps: headers, then body.

The headers are checked before a byte of the body is read, cheapest and
least revealing first: present and well formed, timestamp inside the
window, then the registry (unknown 401, revoked 403; edge ids are public,
they are in every main block). Only a request that claims a registered,
active edge at the current time has its body read (within the route's
limit, hub.service.routing) and its signature checked over method, path,
timestamp and body. The signature check needs no lookup: the id IS the key.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from edge.protocol.types import KEY_ID_RE
from edge.sync.signing import HEADER_ID, HEADER_SIG, HEADER_TS, request_signature_ok
from hub.service.db import Database
from hub.service.errors import AuthError
from hub.service.registry import EdgeInfo, active_edge

_TS = re.compile(r"^[0-9]{1,16}$")


@dataclass(frozen=True)
class Claimed:
    """A request whose headers name a registered, active edge; not yet signature-checked."""

    edge: EdgeInfo
    ts: str
    sig: str


def check_headers(db: Database, window_s: int, headers: Mapping[str, str],
                  now_ms: int) -> Claimed:
    edge_id, ts, sig = headers.get(HEADER_ID), headers.get(HEADER_TS), headers.get(HEADER_SIG)
    if not edge_id or not ts or not sig:
        raise AuthError("missing_auth",
                        f"signed requests need {HEADER_ID}, {HEADER_TS}, {HEADER_SIG}")
    if not KEY_ID_RE.fullmatch(edge_id):
        raise AuthError("unknown_edge", f"{HEADER_ID} is not 64 lowercase hex digits")
    if not _TS.fullmatch(ts):
        raise AuthError("stale_request", f"{HEADER_TS} is not unix milliseconds")
    skew_ms = abs(int(ts) - now_ms)
    if skew_ms > window_s * 1000:
        raise AuthError("stale_request", f"timestamp is {skew_ms // 1000} s from the hub's clock "
                        f"(window {window_s} s)")
    return Claimed(active_edge(db, edge_id), ts, sig)


def check_signature(claimed: Claimed, method: str, path_with_query: str,
                    body: bytes) -> EdgeInfo:
    if not request_signature_ok(claimed.edge.edge_id, method, path_with_query, claimed.ts, body,
                                claimed.sig):
        raise AuthError("bad_signature", "request signature does not verify for this edge id")
    return claimed.edge


def authenticate(db: Database, window_s: int, method: str, path_with_query: str,
                 headers: Mapping[str, str], body: bytes, now_ms: int) -> EdgeInfo:
    """Both steps, for a caller that already holds the body."""
    return check_signature(check_headers(db, window_s, headers, now_ms), method,
                           path_with_query, body)
