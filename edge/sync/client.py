"""The edge's sync client: push the chain to the hub, pull receipts and price signals.

The chain store IS the backlog: nothing is queued elsewhere, so nothing is
lost while the hub is away for days. Each push starts by asking the hub for
its acknowledged head (GET head), so a restarted client, a restored hub or a
retry after a lost response all resume exactly where the hub is; blocks the
hub already holds come back as duplicates. Receipts are checked against the
pinned hub key and our own block hashes, and price signals against the hub
key, before they are returned.

The local state file remembers only cursors (last receipt's main height, last
price signal's ts, last acknowledged head for status pages); it is written
atomically (temp file, fsync, rename).
"""

from __future__ import annotations

import json
import logging
import os
import random
import ssl
import threading
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Protocol

import httpx
from pydantic import ValidationError

from edge.chain.keys import PrivateKey, public_id
from edge.chain.store import ChainStore
from edge.clock import SYSTEM, Clock
from edge.protocol.auth import check_signature
from edge.protocol.codec import validate
from edge.protocol.errors import ProtocolError
from edge.protocol.transactions import AnchorReceipt
from edge.sync.receipts import check_receipt
from edge.sync.signing import sign_request

log = logging.getLogger("edge.sync")


class Recorded(Protocol):
    """Where the caller durably records what was pulled (the edge's inbox).

    Pull cursors resume from here rather than from the state file, which may
    run ahead of what was recorded after a crash or a failed write."""

    def last_receipt_height(self) -> int: ...

    def last_price_ts(self) -> int: ...


class SyncError(Exception):
    """Anything that stopped one sync step."""


class HubUnavailable(SyncError):
    """The hub could not be reached or failed (network error, timeout, 5xx): try later."""


class HubRefused(SyncError):
    """The hub answered with a refusal; `reason` is the contract's reason code."""

    def __init__(self, reason: str, status: int, detail: Any = None) -> None:
        super().__init__(f"hub refused ({status} {reason}): {detail}")
        self.reason = reason
        self.status = status
        self.detail = detail


class HubMisbehaved(SyncError):
    """The hub sent a receipt or signal that does not verify against the pinned hub key."""


@dataclass
class SyncState:
    acked_height: int = -1
    acked_hash: str = "00" * 32
    receipts_after: int = -1
    prices_after: int = -1

    @classmethod
    def load(cls, path: Path) -> SyncState:
        try:
            raw = json.loads(path.read_text())
        except FileNotFoundError:
            return cls()
        except (OSError, ValueError) as exc:
            log.warning("sync state %s unreadable (%s); starting from the hub's head", path, exc)
            return cls()
        fields = {k: raw[k] for k in cls.__dataclass_fields__ if k in raw}
        return cls(**fields)

    def save(self, path: Path) -> None:
        tmp = path.with_name(path.name + ".tmp")
        with open(tmp, "w") as fh:
            json.dump(asdict(self), fh, sort_keys=True)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)


@dataclass(frozen=True)
class PushResult:
    pushed: int
    duplicates: int
    head_height: int
    head_hash: str


class SyncClient:
    """Both directions of the edge <-> hub contract, over signed HTTP requests."""

    def __init__(
        self,
        base_url: str,
        key: PrivateKey,
        edge_id: str | None,
        store: ChainStore,
        state_path: str | os.PathLike[str],
        hub_id: str | None = None,
        site: str | None = None,
        batch_blocks: int = 32,
        batch_txs: int = 50_000,
        timeout_s: float = 10.0,
        clock: Clock = SYSTEM,
        recorded: Recorded | None = None,
        ca: str | os.PathLike[str] | None = None,
    ) -> None:
        own = public_id(key.public_key())
        if edge_id is not None and edge_id != own:
            raise ValueError("edge_id is not the public id of the given key")
        self.edge_id = own
        self.key = key
        self.store = store
        self.state_path = Path(state_path)
        self.state = SyncState.load(self.state_path)
        self.hub_id = hub_id
        self.site = site
        self.batch_blocks = batch_blocks
        self.batch_txs = batch_txs
        self.clock = clock
        self.recorded = recorded
        # a private CA is trusted for this client only, not added to the process's store
        verify: Any = ssl.create_default_context(cafile=str(ca)) if ca is not None else True
        self._http = httpx.Client(base_url=base_url.rstrip("/"), timeout=timeout_s,
                                  verify=verify)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> SyncClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- transport -------------------------------------------------------
    def _request(self, method: str, path: str, params: dict[str, Any] | None = None,
                 body: Any = None) -> Any:
        url = httpx.URL(path, params=params or {})
        target = url.raw_path.decode("ascii")
        content = b"" if body is None else json.dumps(body, separators=(",", ":")).encode()
        headers = sign_request(self.key, method, target, self.clock.wall_ms(), content)
        if body is not None:
            headers["Content-Type"] = "application/json"
        try:
            resp = self._http.request(method, target, content=content, headers=headers)
        except httpx.HTTPError as exc:
            raise HubUnavailable(f"{method} {path}: {type(exc).__name__}: {exc}") from exc
        if resp.status_code >= 500:
            raise HubUnavailable(f"{method} {path}: hub answered {resp.status_code}")
        try:
            doc = resp.json()
        except ValueError:
            raise HubUnavailable(f"{method} {path}: answer is not JSON") from None
        if resp.status_code >= 400:
            detail = doc.get("detail") if isinstance(doc, dict) else doc
            reason = detail.get("reason") if isinstance(detail, dict) else None
            raise HubRefused(reason or f"http_{resp.status_code}", resp.status_code, detail)
        return doc

    def _save(self) -> None:
        self.state.save(self.state_path)

    # -- push ------------------------------------------------------------
    def hub_head(self) -> tuple[int, str]:
        doc = self._request("GET", f"/v1/edges/{self.edge_id}/head")
        return int(doc["height"]), str(doc["hash"])

    def push_pending(self) -> PushResult:
        """Push every block above the hub's head, oldest first, in batches."""
        height, head_hash = self.hub_head()
        local = self.store.height()
        if height > local:
            raise HubRefused("hub_ahead", 0, f"hub holds height {height}, local head {local}")
        if height >= 0:
            stored = self.store.header_bytes(height)
            if stored is None or stored[0] != head_hash:
                raise HubRefused("diverged", 0, f"hub's block {height} differs from ours")
        self._ack(height, head_hash)
        pushed = duplicates = 0
        nxt = height + 1
        while nxt <= local:
            batch, ntx = [], 0
            while nxt <= local and len(batch) < self.batch_blocks and (
                not batch or ntx < self.batch_txs
            ):
                block = self.store.get(nxt)
                batch.append({"header": json.loads(block.header.to_bytes()),
                              "txs": block.tx_objects()})
                ntx += len(block.txs)
                nxt += 1
            doc = self._request("POST", f"/v1/edges/{self.edge_id}/blocks",
                                body={"blocks": batch})
            pushed += int(doc["accepted"])
            duplicates += int(doc["duplicates"])
            self._ack(int(doc["head"]["height"]), str(doc["head"]["hash"]))
        return PushResult(pushed, duplicates, self.state.acked_height, self.state.acked_hash)

    def _ack(self, height: int, hash_: str) -> None:
        if (height, hash_) != (self.state.acked_height, self.state.acked_hash):
            self.state.acked_height, self.state.acked_hash = height, hash_
            self._save()

    # -- pull ------------------------------------------------------------
    def _pinned(self) -> str:
        if not self.hub_id:
            raise SyncError("no hub id pinned: set the hub's public id in the edge config")
        return self.hub_id

    def pull_receipts(self) -> list[dict[str, Any]]:
        """New anchor receipts, each checked against the hub key and our own block hash."""
        hub_id = self._pinned()
        if self.recorded is not None:
            self.state.receipts_after = self.recorded.last_receipt_height()
        doc = self._request("GET", f"/v1/edges/{self.edge_id}/receipts",
                            params={"after": self.state.receipts_after})
        out = []
        for receipt in doc.get("receipts", []):
            tx = receipt.get("tx") if isinstance(receipt, dict) else None
            ours = None
            if isinstance(tx, dict) and isinstance(tx.get("height"), int):
                stored = self.store.header_bytes(tx["height"])
                ours = "" if stored is None else stored[0]
            problems = check_receipt(receipt, hub_id, edge_id=self.edge_id, edge_hash=ours)
            if not problems:
                try:
                    AnchorReceipt.model_validate(receipt)
                except ValidationError as exc:
                    problems = [f"not an anchor receipt: {exc.errors()[0]['msg']}"]
            if problems:
                raise HubMisbehaved("receipt refused: " + "; ".join(problems))
            out.append(receipt)
            self.state.receipts_after = max(self.state.receipts_after,
                                            int(receipt["header"]["height"]))
        if out:
            self._save()
        return out

    def pull_prices(self, site: str | None = None) -> list[dict[str, Any]]:
        """New price signals for the site, each checked: model, site, hub signature."""
        hub_id = self._pinned()
        site = site or self.site
        if not site:
            raise SyncError("no site given for price signals")
        if self.recorded is not None:
            self.state.prices_after = self.recorded.last_price_ts()
        doc = self._request("GET", "/v1/prices",
                            params={"site": site, "after": self.state.prices_after})
        out = []
        for signal in doc.get("signals", []):
            try:
                validate(signal)
                check_signature(signal, signer=hub_id)
            except ProtocolError as exc:
                raise HubMisbehaved(f"price signal refused: {exc}") from None
            if signal.get("type") != "price" or signal["site"] != site:
                raise HubMisbehaved("price signal is not a price for this site")
            out.append(signal)
            self.state.prices_after = max(self.state.prices_after, int(signal["ts"]))
        if out:
            self._save()
        return out

    # -- loop ------------------------------------------------------------
    def sync_once(self) -> dict[str, Any]:
        """One round: push, then (with a pinned hub) receipts and, with a site, prices."""
        push = self.push_pending()
        receipts = self.pull_receipts() if self.hub_id else []
        signals = self.pull_prices() if self.hub_id and self.site else []
        return {"push": push, "receipts": receipts, "prices": signals}

    def run(
        self,
        stop: threading.Event,
        interval_s: float = 10.0,
        on_round: Callable[[dict[str, Any]], None] | None = None,
        max_backoff_s: float = 300.0,
        on_status: Callable[[dict[str, Any]], None] | None = None,
    ) -> None:
        """Sync every `interval_s` until `stop` is set, backing off on failure.

        One round is `sync_once` and then `on_round` (the caller records the
        receipts and prices it pulled); a failure of either is one failure.
        `on_status` gets the state after every round, for status pages.
        """
        failures = 0
        while not stop.is_set() and not self._http.is_closed:  # close() ends the loop too
            try:
                result = self.sync_once()
                if on_round is not None:
                    on_round(result)
            except Exception as exc:  # noqa: BLE001 - keep syncing; the chain is the backlog
                failures += 1
                delay = retry_delay(failures, interval_s, max_backoff_s)
                status = {"state": "failing", "error": f"{type(exc).__name__}: {exc}"[:300],
                          "failures": failures, "acked_height": self.state.acked_height,
                          "retry_s": round(delay, 3)}
                if isinstance(exc, SyncError):
                    log.warning("sync failed (%s); retry in %.1f s", exc, delay)
                else:
                    log.exception("sync round failed; retry in %.1f s", delay)
            else:
                failures = 0
                delay = interval_s
                status = {"state": "ok", "acked_height": self.state.acked_height,
                          "last_ok_ms": self.clock.wall_ms(), "pushed": result["push"].pushed}
            if on_status is not None:
                on_status(status)
            stop.wait(delay * (0.9 + 0.2 * random.random()))


def retry_delay(failures: int, interval_s: float, max_backoff_s: float = 300.0) -> float:
    """The one back-off rule: double the interval per failure in a row, up to the cap."""
    return min(max_backoff_s, interval_s * 2 ** min(max(failures, 0), 16))
