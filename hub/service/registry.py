"""The edge registry: which public keys may write, and under which name and site.

An edge's id is the hex of its raw Ed25519 public key (edge.chain.keys), so
registering the id is registering the key. Revocation is final: a revoked
key never comes back; a replaced edge gets a new key and a new entry.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from sqlalchemy import select

from edge.chain.keys import KeyFileError, public_key_from_id
from edge.protocol.types import is_id, is_key_id
from hub.service.db import Database
from hub.service.errors import AuthError, ForbiddenError, NotFound, RegistryError
from hub.service.models import Edge

_NAME = re.compile(r"^[A-Za-z0-9_.:-]{1,100}$")


@dataclass(frozen=True)
class EdgeInfo:
    edge_id: str
    name: str
    site: str | None
    status: str
    registered_ms: int
    revoked_ms: int | None

    def as_dict(self) -> dict[str, object]:
        return dict(self.__dict__)


def _info(row: Edge) -> EdgeInfo:
    return EdgeInfo(row.edge_id, row.name, row.site, row.status, row.registered_ms, row.revoked_ms)


def _check_pubkey(pubkey: str) -> str:
    pubkey = pubkey.strip().lower()
    if not is_key_id(pubkey):
        raise RegistryError("bad_pubkey", "pubkey must be 64 hex digits (raw Ed25519 public key)")
    try:
        public_key_from_id(pubkey)
    except KeyFileError as exc:
        raise RegistryError("bad_pubkey", str(exc)) from None
    return pubkey


def register_edge(db: Database, name: str, pubkey: str, site: str | None = None, *,
                  now_ms: int) -> EdgeInfo:
    if not _NAME.fullmatch(name):
        raise RegistryError("bad_name", "name must be 1-100 of A-Z a-z 0-9 _ . : -")
    if site is not None and not is_id(site):
        raise RegistryError("bad_site", "site must be 1-32 of A-Z a-z 0-9 _ . -")
    edge_id = _check_pubkey(pubkey)
    with db.session() as s:
        existing = s.get(Edge, edge_id)
        if existing is not None:
            state = "revoked" if existing.status == "revoked" else "registered"
            raise RegistryError("exists", f"key already {state} as {existing.name!r}")
        if s.scalar(select(Edge).where(Edge.name == name)) is not None:
            raise RegistryError("exists", f"name {name!r} is taken by another key")
        row = Edge(edge_id=edge_id, name=name, site=site, status="active",
                   registered_ms=now_ms, revoked_ms=None)
        s.add(row)
    return _info(row)


def find_edge(db: Database, ref: str) -> EdgeInfo:
    """An edge by id or by name."""
    with db.session() as s:
        row = s.get(Edge, ref.lower()) or s.scalar(select(Edge).where(Edge.name == ref))
        if row is None:
            raise NotFound("unknown_edge", f"no edge with id or name {ref!r}")
        return _info(row)


def revoke_edge(db: Database, ref: str, *, now_ms: int) -> EdgeInfo:
    edge = find_edge(db, ref)
    with db.session() as s:
        row = s.get(Edge, edge.edge_id)
        assert row is not None
        if row.status != "revoked":
            row.status = "revoked"
            row.revoked_ms = now_ms
        return _info(row)


def list_edges(db: Database) -> list[EdgeInfo]:
    with db.session() as s:
        return [_info(r) for r in s.scalars(select(Edge).order_by(Edge.name))]


def active_edge(db: Database, edge_id: str) -> EdgeInfo:
    """The edge allowed to write as `edge_id`, or the refusal the contract names."""
    with db.session() as s:
        row = s.get(Edge, edge_id)
        if row is None:
            raise AuthError("unknown_edge", "this key is not registered")
        if row.status == "revoked":
            raise ForbiddenError("revoked", "this key has been revoked")
        return _info(row)
