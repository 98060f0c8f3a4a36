"""A real hub at a URL, in place of the simulated one (scenario `[hub] url`).

The simulator starts and stops nothing here. It talks to the hub the way an
operator and the edges do: the hub's identity from GET /v1/hub (checked
against the pinned `hub_id` when the scenario gives one), edge keys registered
with POST /v1/edges/{E}/registration and the operator token, price signals,
main blocks and allocation periods through the operator endpoints, proofs
through the edges' routes. Every way it can fail to reach or trust the hub is
one SimError that names the scenario key and the fix, before anything starts.
"""

from __future__ import annotations

import ssl
from pathlib import Path
from typing import Any

import httpx

from simulator.scenario import Hub


class RemoteHubError(RuntimeError):
    """The real hub cannot be used; the message names the scenario key and the fix."""


def _token(path: str) -> str:
    p = Path(path)
    try:
        lines = p.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise RemoteHubError(f"hub.operator_token_file: cannot read {p} ({exc.__class__.__name__})"
                             "; fix: give the file that holds the hub's operator token (the "
                             "one its `hub serve --operator-token-file` reads)") from None
    token = lines[0].strip() if lines else ""
    if len(token) < 16:
        raise RemoteHubError(f"hub.operator_token_file: {p} holds no operator token (the first "
                             "line must be the token, 16 characters or more); fix: give the "
                             "hub's token file")
    return token


def _verify(ca: str) -> Any:
    if not ca:
        return True
    if not Path(ca).is_file():
        raise RemoteHubError(f"hub.ca: no file at {ca}; fix: give the PEM file of the CA that "
                             "signed the hub's certificate, or leave ca out when the system "
                             "trusts it")
    try:
        return ssl.create_default_context(cafile=ca)
    except ssl.SSLError as exc:
        raise RemoteHubError(f"hub.ca: {ca} is not a PEM CA certificate ({exc}); fix: give the "
                             "CA's certificate in PEM form") from None


class RemoteHub:
    """The real hub: what `Day` needs of a hub, over HTTP (see HubProcess for the simulated)."""

    running = True   # not ours to stop: a hub-down fault is refused by the scenario check

    def __init__(self, cfg: Hub, timeout_s: float = 30.0) -> None:
        self.url = cfg.url.rstrip("/")
        self.ca = cfg.ca or None
        self.verify = _verify(cfg.ca)
        self.operator_token = _token(cfg.operator_token_file)
        self.pinned = cfg.hub_id
        self.hub_id = cfg.hub_id
        self.timeout_s = timeout_s
        self.log: Path | None = None

    def connect(self) -> RemoteHub:
        """Reach the hub and learn (or check) its id; RemoteHubError names the key to fix."""
        try:
            r = httpx.get(self.url + "/v1/hub", timeout=self.timeout_s, verify=self.verify)
        except httpx.ConnectError as exc:
            if "CERTIFICATE" in str(exc).upper():
                raise RemoteHubError(f"hub.ca: the certificate of {self.url} is not trusted "
                                     f"({exc}); fix: give the PEM file of the CA that signed it "
                                     "as hub.ca") from None
            raise RemoteHubError(f"hub.url: cannot reach {self.url} ({exc}); fix: start the "
                                 "hub or correct the URL (scheme, host and port)") from None
        except httpx.HTTPError as exc:
            raise RemoteHubError(f"hub.url: {self.url} did not answer GET /v1/hub ({exc}); fix:"
                                 " point hub.url at a carbon-edge hub") from None
        try:
            announced = r.json()["hub_id"] if r.status_code == 200 else None
        except (ValueError, KeyError, TypeError):
            announced = None
        if not isinstance(announced, str):
            raise RemoteHubError(f"hub.url: {self.url}/v1/hub answered {r.status_code} without a"
                                 " hub_id; fix: point hub.url at a carbon-edge hub's base URL")
        if self.pinned and announced != self.pinned:
            raise RemoteHubError(f"hub.hub_id: the hub at {self.url} is {announced}, not the "
                                 f"pinned {self.pinned}; fix: correct hub_id (or hub.url)")
        self.hub_id = announced
        return self

    def operator(self, method: str, path: str, body: Any = None) -> httpx.Response:
        return httpx.request(method, self.url + path, json=body, timeout=self.timeout_s,
                             headers={"Authorization": f"Bearer {self.operator_token}"},
                             verify=self.verify)

    def register(self, key: Any, site: str | None = None) -> str:
        """Register an edge's key with the operator token; RegistryError('exists') as the
        simulated hub's, when the key is there already (a restarted edge)."""
        from edge.chain.keys import public_id
        from hub.service.errors import RegistryError

        edge_id = public_id(key.public_key())
        r = self.operator("POST", f"/v1/edges/{edge_id}/registration",
                          {"name": f"edge-{edge_id[:12]}", "site": site})
        if r.status_code == 200:
            return edge_id
        reason = _reason(r)
        if reason == "exists":
            raise RegistryError("exists", r.text[:200])
        if r.status_code in (401, 403):
            raise RemoteHubError(f"hub.operator_token_file: the hub refused the operator token "
                                 f"({r.status_code} {reason}); fix: give the token file of the "
                                 "hub at hub.url")
        raise RemoteHubError(f"hub.url: the hub refused to register edge {site} "
                             f"({r.status_code} {r.text[:200]}); fix: check that hub.url is a "
                             "carbon-edge hub of this version (POST /v1/edges/{E}/registration)")

    def make_main_block(self) -> dict[str, Any]:
        r = self.operator("POST", "/v1/main/blocks")
        r.raise_for_status()
        return r.json()

    def tx_proof(self, edge_id: str, height: int, idx: int) -> dict[str, Any]:
        """A transaction's proof as the hub serves it (the operator may read any edge's)."""
        r = self.operator("GET", f"/v1/edges/{edge_id}/blocks/{height}/txs/{idx}/proof")
        r.raise_for_status()
        return r.json()

    def start(self) -> RemoteHub:
        return self

    def stop(self) -> None:
        """Nothing to stop: the real hub is its operator's."""


def _reason(r: httpx.Response) -> str:
    try:
        return str(r.json()["detail"]["reason"])
    except (ValueError, KeyError, TypeError):
        return ""
