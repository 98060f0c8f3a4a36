"""The one site configuration file (TOML), validated before anything starts.

Why pydantic and strict models: a field engineer edits this file on a board
over SSH; every mistake must come back as "which key, what is wrong, how to
fix it" before the service touches a socket, not as a traceback an hour
later. ``load_config`` raises ``ConfigError`` whose lines each name one key
(``market.interval_s``, ``gateways[2].key_hex``) and one fix.

Relative paths in the file are resolved against the file's own folder, so a
site directory can be moved as a whole.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from edge.protocol.types import Id, KeyId

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - the board runs 3.10
    import tomli as tomllib


#: The fix we suggest, by the last part of the key that failed.
FIXES: dict[str, str] = {
    "id": "use 1-32 characters from A-Z a-z 0-9 _ . -",
    "data_dir": "give a writable folder for the inbox, chain and state databases",
    "edge_key": "create one with `carbon-edge chain keygen --out edge.pem` and chmod 600 it",
    "host": "give a host name or IP address",
    "port": "give a TCP port between 1 and 65535",
    "ca": "give the PEM file of the CA that signed the broker's certificate",
    "cert": "give this client's PEM certificate (set tls = false only on a closed test network)",
    "key": "give the PEM private key that matches cert",
    "key_hex": "give the gateway's 32-byte HMAC key as 64 hex digits (or key_file)",
    "key_file": "give a file holding the gateway's key as 64 hex digits",
    "interval_s": "use a market interval that divides a day, e.g. 900 (15 min)",
    "gate_s": "gate closure must leave time to bid: 0 <= gate_s < interval_s",
    "round_s": "rounds need time for revised quotes: 1 <= round_s, and all rounds fit the gate",
    "max_rounds": "use between 1 and 50 rounds",
    "accel": "use 1 in the field; a factor > 1 only for simulation",
    "max_txs": "use between 1 and 100000 transactions per block",
    "max_age_s": "use a block age between 0.05 s and 86400 s",
    "backend": "choose one of auto, cpu, sim, pynq",
    "url": "give the hub's base URL, e.g. https://hub.example.org",
    "hub_id": "give the hub's Ed25519 public id (64 hex digits) to pin receipts and prices",
    "gateways": "list at least one [[gateways]] table with id and key_hex",
    "level": "choose one of debug, info, warning, error",
    "unit": "give the Modbus unit id (1-247)",
    "base": "give the SunSpec base register (40000 for the 'SunS' marker)",
}


#: old key name -> new one, read for one release with a warning
DEPRECATED: dict[str, str] = {"hub_key": "hub_id"}

#: hosts of documentation examples (RFC 2606): a config still naming one was not filled in
EXAMPLE_HOSTS = ("example.org", "example.com", "example.net")


class ConfigError(ValueError):
    """The configuration is wrong; ``problems`` holds one line per key."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("; ".join(problems))


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SiteConfig(_Section):
    id: Id
    data_dir: Path
    edge_key: Path
    chain_id: str = ""
    #: append every chain-making input to data_dir/journal.jsonl (edge.runtime.journal)
    journal: bool = False

    def chain(self) -> str:
        """The edge chain's id: one chain per site unless the file says otherwise."""
        return self.chain_id or f"edge-{self.id}"


class MqttConfig(_Section):
    host: str = "127.0.0.1"
    port: int = Field(8883, ge=1, le=65535)
    client_id: str = "carbon-edge"
    tls: bool = True
    ca: Path | None = None
    cert: Path | None = None
    key: Path | None = None
    keepalive_s: int = Field(30, ge=5, le=3600)
    reconnect_min_s: float = Field(0.5, gt=0, le=60)
    reconnect_max_s: float = Field(30.0, gt=0, le=3600)

    @model_validator(mode="after")
    def _tls_files(self) -> MqttConfig:
        if self.tls:
            missing = [k for k in ("ca", "cert", "key") if getattr(self, k) is None]
            if missing:
                raise ValueError(
                    f"tls is on but {', '.join(missing)} is not set "
                    "(give ca, cert and key, or set tls = false on a closed test network)"
                )
        return self


class AdmissionConfig(_Section):
    max_payload: int = Field(16 * 1024, ge=256, le=1 << 20)
    past_s: int = Field(300, ge=1)
    future_s: int = Field(30, ge=0)
    #: replayed (``hist``) telemetry may be this old: a gateway may be offline for days
    hist_past_s: int = Field(7 * 86400, ge=1)
    seq_window: int = Field(4096, ge=16, le=1 << 20)
    #: the payload checks (JSON, schema, HMAC) in a second process, ahead of the writer
    #: (edge.runtime.checks); false: everything in the edge's one process
    check_process: bool = True


class MarketConfig(_Section):
    interval_s: int = Field(900, ge=1, le=86400)
    gate_s: float = Field(60, ge=0)
    round_s: float = Field(10, gt=0)
    max_rounds: int = Field(3, ge=1, le=50)
    #: g CO2/kWh of traded energy until the hub's first price signal says otherwise
    default_intensity_g_kwh: int = Field(0, ge=0, le=100_000)
    #: the site requires sealed bids (docs/market.md "Sealed bids"): plain ones are refused
    sealed: bool = False
    #: processes that open a round's sealed bids (1: the ticker itself, no pool)
    open_workers: int = Field(1, ge=1, le=64)

    @model_validator(mode="after")
    def _fits(self) -> MarketConfig:
        if self.gate_s >= self.interval_s:
            raise ValueError(f"gate_s ({self.gate_s}) must be smaller than interval_s")
        return self


class ClockConfig(_Section):
    """Simulated time: ``sim = origin_sim_ms + (wall - origin_wall_ms) * accel``."""

    accel: float = Field(1.0, ge=1.0, le=100_000)
    origin_wall_ms: int | None = None
    origin_sim_ms: int | None = None


class BlocksConfig(_Section):
    max_txs: int = Field(1000, ge=1, le=100_000)
    max_age_s: float = Field(60.0, ge=0.05, le=86400)


class PlConfig(_Section):
    backend: Literal["auto", "cpu", "sim", "pynq"] = "auto"
    #: the overlay's register map (overlays/regmap.json of the release); unset: the
    #: $CARBON_EDGE_REGMAP file, else the source checkout's
    regmap: Path | None = None


class InboxConfig(_Section):
    """How long raw messages stay once they are on the chain and anchored by the hub."""

    keep_s: float = Field(3600, ge=0)
    prune_every_s: float = Field(300, gt=0)
    #: how long one write waits for a busy or stalled disk before it is retried
    busy_timeout_s: float = Field(5.0, gt=0, le=600)


class StatusConfig(_Section):
    enabled: bool = True
    host: str = "127.0.0.1"
    port: int = Field(8080, ge=0, le=65535)


class SyncConfig(_Section):
    url: str = Field(pattern=r"^https?://")
    #: the hub's public id (``carbon-edge chain pubkey`` of its key), pinned
    hub_id: KeyId
    interval_s: float = Field(30.0, gt=0)
    #: plain http:// only on a closed test network: requests are signed but not private,
    #: and receipts and prices would come from whoever answers
    allow_insecure_http: bool = False
    #: the PEM file of a private CA that signed the hub's certificate (none: the system's
    #: trust store, as for any HTTPS client)
    ca: Path | None = None

    @model_validator(mode="before")
    @classmethod
    def _old_names(cls, data: Any) -> Any:
        """``hub_key`` was this field's name (it holds an id, not a key): still read for one
        release, with a warning from ``config_warnings``."""
        if isinstance(data, dict) and "hub_key" in data:
            if "hub_id" in data:
                raise ValueError("give hub_id only (hub_key is its old name)")
            data = {**data, "hub_id": data["hub_key"]}
            del data["hub_key"]
        return data

    @model_validator(mode="after")
    def _tls(self) -> SyncConfig:
        if self.url.startswith("http://") and not self.allow_insecure_http:
            raise ValueError(
                "the hub URL is plain http://; use https:// (or set allow_insecure_http = true "
                "on a closed test network)")
        return self


class LogConfig(_Section):
    json_lines: bool = Field(False, alias="json")
    level: Literal["debug", "info", "warning", "error"] = "info"


class GatewayConfig(_Section):
    id: Id
    key_hex: str | None = Field(None, pattern=r"^[0-9a-fA-F]{64}$")
    key_file: Path | None = None

    @model_validator(mode="after")
    def _one_key(self) -> GatewayConfig:
        if (self.key_hex is None) == (self.key_file is None):
            raise ValueError("give exactly one of key_hex or key_file")
        return self

    def key(self) -> bytes:
        if self.key_hex is not None:
            return bytes.fromhex(self.key_hex)
        assert self.key_file is not None
        from edge.chain.keys import KeyFileError, load_hmac_key

        try:  # the one key-file policy: 0600, regular file, 64 hex digits
            return load_hmac_key(self.key_file)
        except KeyFileError as exc:
            raise ConfigError([f"gateways.key_file: {exc}"]) from None


class MeterConfig(_Section):
    """A SunSpec meter wired to the hub itself, polled directly over Modbus TCP."""

    id: Id
    host: str
    port: int = Field(502, ge=1, le=65535)
    unit: int = Field(1, ge=1, le=247)
    base: int = Field(40000, ge=0, le=65535)
    poll_s: float = Field(5.0, gt=0)
    timeout_s: float = Field(1.0, gt=0)


class Config(_Section):
    site: SiteConfig
    mqtt: MqttConfig
    admission: AdmissionConfig = AdmissionConfig()
    market: MarketConfig = MarketConfig()
    clock: ClockConfig = ClockConfig()
    blocks: BlocksConfig = BlocksConfig()
    pl: PlConfig = PlConfig()
    inbox: InboxConfig = InboxConfig()
    status: StatusConfig = StatusConfig()
    sync: SyncConfig | None = None
    log: LogConfig = LogConfig()
    gateways: list[GatewayConfig] = Field(min_length=1)
    meters: list[MeterConfig] = []

    @field_validator("gateways")
    @classmethod
    def _unique(cls, v: list[GatewayConfig]) -> list[GatewayConfig]:
        seen: set[str] = set()
        for i, g in enumerate(v):
            if g.id in seen:
                raise ValueError(f"gateway id {g.id!r} appears twice (entry {i})")
            seen.add(g.id)
        return v

    def gateway_keys(self) -> dict[str, bytes]:
        return {g.id: g.key() for g in self.gateways}

    @property
    def inbox_path(self) -> Path:
        return self.site.data_dir / "inbox.db"

    @property
    def chain_path(self) -> Path:
        return self.site.data_dir / "chain.db"

    @property
    def sync_state_path(self) -> Path:
        return self.site.data_dir / "sync-state.json"

    @property
    def journal_path(self) -> Path:
        return self.site.data_dir / "journal.jsonl"


def _key_of(loc: tuple[Any, ...]) -> tuple[str, str]:
    """(dotted key with indices, last named part) of a pydantic error location."""
    out, last = "", ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
            last = str(part)
    return out or "(top level)", last


def problems_of(exc: ValidationError) -> list[str]:
    lines = []
    for err in exc.errors():
        loc = tuple(p for p in err["loc"] if not str(p).startswith("function-after"))
        key, last = _key_of(loc)
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "missing":
            msg = "is required but missing"
        elif err["type"] == "extra_forbidden":
            msg = "is not a known key (check its spelling and section)"
        fix = FIXES.get(last)
        lines.append(f"{key}: {msg}" + (f"; fix: {fix}" if fix else ""))
    return lines


def _resolve_paths(obj: Any, base: Path) -> Any:
    """Make every path in the raw TOML relative to the file's folder."""
    path_keys = {"data_dir", "edge_key", "ca", "cert", "key", "key_file", "regmap"}
    if isinstance(obj, dict):
        return {
            k: (str(base / v) if k in path_keys and isinstance(v, str) and v else
                _resolve_paths(v, base))
            for k, v in obj.items()
        }
    if isinstance(obj, list):
        return [_resolve_paths(v, base) for v in obj]
    return obj


def parse_config(raw: dict[str, Any], base: Path | None = None) -> Config:
    """Validate an already-parsed TOML document."""
    if base is not None:
        raw = _resolve_paths(raw, base)
    try:
        cfg = Config.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(problems_of(exc)) from None
    return cfg


def load_config(path: str | Path) -> Config:
    """Read and validate the TOML file at ``path``."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError([f"(file): no config file at {path}"]) from None
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError([f"(file): {path} is not valid TOML: {exc}"]) from None
    return parse_config(raw, path.resolve().parent)


def config_warnings(text: str) -> list[str]:
    """Lines for what loads but is surely not meant: an old key name, or a value copied
    from an example and never filled in (an all-zero key or id, an example.org host).
    Warnings, not problems: a test site may use them on purpose."""
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError:
        return []
    out: list[str] = []

    def walk(node: Any, where: str) -> None:
        if isinstance(node, dict):
            for k, v in node.items():
                key = f"{where}.{k}" if where else str(k)
                if k in DEPRECATED and isinstance(v, str):
                    out.append(f"{key} is deprecated: rename it {DEPRECATED[k]} "
                               "(the old name is read for one more release)")
                walk(v, key)
        elif isinstance(node, list):
            for i, v in enumerate(node):
                walk(v, f"{where}[{i}]")
        elif isinstance(node, str):
            if len(node) >= 32 and set(node) == {"0"}:
                out.append(f"{where} is all zeros: a placeholder, not a real key or id")
            host = node.split("://", 1)[-1].split("/", 1)[0].split(":", 1)[0].lower()
            if any(host == h or host.endswith("." + h) for h in EXAMPLE_HOSTS):
                out.append(f"{where} names the example host {host}: a placeholder")

    walk(raw, "")
    return out


def check_runtime_files(cfg: Config) -> list[str]:
    """Problems that only show on this machine: key, certificate and data files."""
    from edge.chain.keys import KeyFileError, check_secret_file, load_hmac_key, load_private_key

    problems = []
    for i, g in enumerate(cfg.gateways):
        if g.key_file is not None and not g.key_file.is_file():
            problems.append(f"gateways[{i}].key_file: no file at {g.key_file}; fix: "
                            + FIXES["key_file"])
        elif g.key_file is not None:
            try:
                load_hmac_key(g.key_file)
            except KeyFileError as exc:
                problems.append(f"gateways[{i}].key_file: {exc}")
    if cfg.sync is not None and cfg.sync.ca is not None and not cfg.sync.ca.is_file():
        problems.append(f"sync.ca: no file at {cfg.sync.ca}; fix: give the PEM file of the CA "
                        "that signed the hub's certificate, or leave ca out to use the "
                        "system's trust store")
    if cfg.mqtt.tls:
        for name in ("ca", "cert", "key"):
            p = getattr(cfg.mqtt, name)
            if p is not None and not p.is_file():
                problems.append(f"mqtt.{name}: no file at {p}; fix: {FIXES[name]}")
        if cfg.mqtt.key is not None and cfg.mqtt.key.is_file():
            try:
                check_secret_file(cfg.mqtt.key)
            except KeyFileError as exc:
                problems.append(f"mqtt.key: {exc}")
    try:
        load_private_key(cfg.site.edge_key)
    except KeyFileError as exc:
        problems.append(f"site.edge_key: {exc}; fix: {FIXES['edge_key']}")
    d = cfg.site.data_dir
    if d.exists() and not d.is_dir():
        problems.append(f"site.data_dir: {d} is not a folder; fix: {FIXES['data_dir']}")
    return problems
