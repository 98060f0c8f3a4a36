"""Blocks: a signed header committing to an ordered list of transactions.

A transaction is any JSON object; its leaf is its canonical bytes. The header
is signed over its canonical bytes without `sig`; the block hash (what the
next block's `prev` names) is SHA-256 of the canonical header with `sig`, so
the link also commits to the signature.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from edge.chain.merkle import Hasher, merkle_root
from edge.protocol.canonical import canonical
from edge.protocol.identity import PrivateKey, public_id, sign, verify_signature

BLOCK_VERSION = 1
GENESIS_PREV = "00" * 32


@dataclass(frozen=True)
class BlockHeader:
    version: int
    chain: str
    height: int
    prev: str
    root: str
    ts: int
    ntx: int
    producer: str
    sig: str = ""

    def unsigned(self) -> dict[str, Any]:
        body = asdict(self)
        del body["sig"]
        return body

    def signing_bytes(self) -> bytes:
        return canonical(self.unsigned())

    def to_bytes(self) -> bytes:
        return canonical(asdict(self))

    def hash(self) -> str:
        return hashlib.sha256(self.to_bytes()).hexdigest()

    def signature_ok(self) -> bool:
        try:
            sig = bytes.fromhex(self.sig)
        except ValueError:
            return False
        return verify_signature(self.producer, self.signing_bytes(), sig)

    @classmethod
    def from_bytes(cls, raw: bytes) -> BlockHeader:
        """Parse a stored header, insisting the bytes are its canonical form."""
        obj = json.loads(raw)
        if not isinstance(obj, dict) or set(obj) != set(cls.__dataclass_fields__):
            raise ValueError("header fields are not the expected set")
        header = cls(**obj)
        if header.to_bytes() != raw:
            raise ValueError("header bytes are not canonical")
        return header


@dataclass(frozen=True)
class Block:
    header: BlockHeader
    txs: tuple[bytes, ...]

    @property
    def height(self) -> int:
        return self.header.height

    def tx_objects(self) -> list[Any]:
        return [json.loads(t) for t in self.txs]


def encode_txs(txs: Sequence[Any]) -> tuple[bytes, ...]:
    """Transactions as canonical bytes (already-encoded bytes pass through)."""
    return tuple(t if isinstance(t, bytes) else canonical(t) for t in txs)


def make_block(
    *,
    chain: str,
    height: int,
    prev: str,
    txs: Sequence[Any],
    ts: int,
    key: PrivateKey,
    hasher: Hasher | None = None,
) -> Block:
    """Build and sign the next block (the caller supplies the head it extends)."""
    leaves = encode_txs(txs)
    header = BlockHeader(
        version=BLOCK_VERSION,
        chain=chain,
        height=height,
        prev=prev,
        root=merkle_root(leaves, hasher).hex(),
        ts=ts,
        ntx=len(leaves),
        producer=public_id(key.public_key()),
    )
    signed = BlockHeader(**{**asdict(header), "sig": sign(key, header.signing_bytes()).hex()})
    return Block(header=signed, txs=leaves)
