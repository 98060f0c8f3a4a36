"""A real edge in place of a simulated substation's (scenario `[[substations]] edge_url`).

The simulator starts no broker and no edge for that substation. It runs the
substation's simulated devices and firmware gateways against the edge's own
broker with the credentials the edge's operator gives (a folder: the broker's
CA `ca.pem`, per gateway its client certificate `GW.pem` and key `GW.key`
and its HMAC key `GW.hmac`, 64 hex digits, the same the edge's `[[gateways]]`
holds), and reads the edge from outside: its identity, site, gateways and
market clock from GET /api/status, its heights from GET /api/chain, and its
whole chain, as the hub it syncs to holds it, for the record and the
invariants. Every way it can fail is one RemoteEdgeError naming the key and
the fix, before anything starts.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from edge.chain.block import Block, BlockHeader, encode_txs
from simulator.scenario import Gateway, Substation

HEX64 = re.compile(r"^[0-9a-fA-F]{64}$")


class RemoteEdgeError(RuntimeError):
    """The real edge cannot be driven; the message names the scenario key and the fix."""


@dataclass(frozen=True)
class EdgeClock:
    accel: float
    origin_wall_ms: int
    origin_sim_ms: int


def credential_files(sub: Substation, where: str, gateways: list[Gateway]
                     ) -> tuple[Path, dict[str, tuple[Path, Path]], dict[str, bytes]]:
    """(CA, gateway -> (cert, key), gateway -> HMAC key) from the substation's folder."""
    d = Path(sub.credentials)
    fix = (f"fix: put the file the edge's operator gave for it in {d} (layout: ca.pem, "
           "GW.pem, GW.key, GW.hmac; docs/simulator.md)")
    if not d.is_dir():
        raise RemoteEdgeError(f"{where}.credentials: no folder at {d}; {fix}")
    ca = d / "ca.pem"
    if not ca.is_file():
        raise RemoteEdgeError(f"{where}.credentials: no broker CA {ca}; {fix}")
    tls: dict[str, tuple[Path, Path]] = {}
    hmac: dict[str, bytes] = {}
    for g in gateways:
        cert, key, secret = d / f"{g.id}.pem", d / f"{g.id}.key", d / f"{g.id}.hmac"
        for f in (cert, key, secret):
            if not f.is_file():
                raise RemoteEdgeError(f"{where}.credentials: no {f.name} for gateway {g.id} "
                                      f"in {d}; {fix}")
        text = secret.read_text(encoding="utf-8", errors="replace").strip()
        if not HEX64.match(text):
            raise RemoteEdgeError(f"{where}.credentials: {secret} is not 64 hex digits; fix: "
                                  "give the gateway's HMAC key as the edge's [[gateways]] "
                                  "key_hex holds it")
        tls[g.id] = (cert, key)
        hmac[g.id] = bytes.fromhex(text)
    return ca, tls, hmac


class RemoteEdge:
    """One real edge, read over its status API."""

    def __init__(self, sub: Substation, where: str, gateways: list[Gateway],
                 timeout_s: float = 10.0) -> None:
        self.sub = sub
        self.where = where
        self.url = sub.edge_url.rstrip("/")
        self.timeout_s = timeout_s
        self.ca, self.tls, self.hmac = credential_files(sub, where, gateways)
        self.gateways = gateways
        self.edge_id = ""
        self.clock: EdgeClock | None = None

    def get(self, path: str) -> Any:
        r = httpx.get(self.url + path, timeout=self.timeout_s)
        r.raise_for_status()
        return r.json()

    def connect(self) -> RemoteEdge:
        """Read and check the edge's site, id, gateways and clock."""
        try:
            st = self.get("/api/status")
        except httpx.HTTPError as exc:
            raise RemoteEdgeError(f"{self.where}.edge_url: cannot read {self.url}/api/status "
                                  f"({exc}); fix: start the edge or give its status page's "
                                  "URL (its [status] host and port)") from None
        except ValueError:
            raise RemoteEdgeError(f"{self.where}.edge_url: {self.url}/api/status is not JSON; "
                                  "fix: give a carbon-edge edge's status page URL") from None
        if st.get("site") != self.sub.id:
            raise RemoteEdgeError(f"{self.where}.id: the edge at {self.url} is site "
                                  f"{st.get('site')!r}, not {self.sub.id!r}; fix: name the "
                                  "substation after the edge's [site] id (or correct edge_url)")
        missing = [g.id for g in self.gateways if g.id not in (st.get("gateways") or {})]
        if missing:
            raise RemoteEdgeError(f"{self.where}: the edge at {self.url} does not know gateways "
                                  f"{missing}; fix: add them to its [[gateways]] or take them "
                                  "out of the scenario")
        if (st.get("sync") or {}).get("state", "off") == "off":
            raise RemoteEdgeError(f"{self.where}.edge_url: the edge at {self.url} syncs to no "
                                  "hub, so its chain cannot be checked; fix: give it a [sync] "
                                  "section for the hub at hub.url")
        c = st.get("clock")
        if not isinstance(c, dict):
            raise RemoteEdgeError(f"{self.where}.edge_url: the edge at {self.url} does not "
                                  "announce its clock in /api/status; fix: update the edge")
        self.clock = EdgeClock(float(c["accel"]), int(c["origin_wall_ms"]),
                               int(c["origin_sim_ms"]))
        self.edge_id = str(st["edge_id"])
        return self

    def chain(self) -> dict[str, Any]:
        return self.get("/api/chain")

    def tls_files(self, gw: str) -> dict[str, str]:
        cert, key = self.tls[gw]
        return {"ca": str(self.ca), "cert": str(cert), "key": str(key),
                "server_hostname": self.sub.broker_host}


def block_from_hub(doc: dict[str, Any]) -> Block:
    """An edge block as the hub serves it (GET /v1/edges/E/blocks/h) -> edge.chain Block."""
    header = BlockHeader(**doc["header"])
    return Block(header, encode_txs(doc["txs"]))


def copy_chain(hub: Any, edge_id: str, head: int, path: Path) -> int:
    """Copy the edge's blocks 0..head from the hub into a ChainStore at `path`; the height
    copied (lower than `head` when the hub lacks a block)."""
    from edge.chain.store import ChainStore

    path.parent.mkdir(parents=True, exist_ok=True)
    with ChainStore(path) as store:
        for h in range(store.height() + 1, head + 1):
            r = hub.operator("GET", f"/v1/edges/{edge_id}/blocks/{h}")
            if r.status_code != 200:
                break
            store.append(block_from_hub(r.json()))
        return store.height()


def market_of(path: Path) -> tuple[list[dict[str, Any]], dict[int, list[dict[str, Any]]],
                                   dict[int, dict[str, str]]]:
    """(final round results, settlements by interval, each gateway's side by interval) from a
    chain copy's transactions.

    The chain holds each result's signed header (its fills block stays in the edge's inbox),
    so the sides come from the bids on the same chain (a sealed bid's commitment names its
    side too).
    """
    from edge.chain.store import ChainStore

    finals: dict[int, dict[str, Any]] = {}
    settled: dict[int, list[dict[str, Any]]] = {}
    sides: dict[int, dict[str, str]] = {}
    with ChainStore(path, readonly=True) as store:
        for h in range(store.height() + 1):
            for raw in store.tx_bytes(h):
                tx = json.loads(raw)
                kind = tx.get("type")
                if kind == "result" and tx.get("final"):
                    finals[tx["interval"]] = tx
                elif kind == "settlement":
                    settled.setdefault(tx["interval"], []).append(tx)
                elif kind in ("bid", "sealed_bid") and "side" in tx:
                    sides.setdefault(tx["interval"], {})[tx["gw"]] = tx["side"]
    return [finals[k] for k in sorted(finals)], settled, sides
