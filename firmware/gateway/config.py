"""The gateway's JSON config: defaults, then checks that name the bad field.

A board with a bad config must say why in one line (on the REPL / log)
rather than run with a silent default, so every field is checked here.
"""

import json
from gateway import policy

DEFAULTS = {
    "data_dir": "data",
    "interval_s": 900,
    "poll_ms": 1000,
    "telemetry_every": 10,
    "clock": {"accel": 1},
    "mqtt": {"host": "127.0.0.1", "port": 1883, "keepalive_s": 30, "inflight": 8,
             "backoff_ms": [500, 30000], "tls": None},
    "queue": {"max_bytes": 262144, "seg_records": 64},
    "seq_block": 100,
    "policy": {"sell_min": 50000, "buy_max": 300000, "soc_min_pm": 100, "soc_max_pm": 950,
               "min_qty_wh": 1, "revert_s": 60, "deadband_w": 50,
               "battery_behind_meter": False, "margin": 0, "tick": 1000,
               "strategy": "best-response",
               # carbon bids (docs/carbon-market.md "Bid advice at the gateway")
               "carbon_bid": "off", "carbon_side": "buy", "carbon_limit": 0},
    "watchdog_ms": 10000,
    "mem_every_s": 60,
    "log_cycles": False,
    # the site requires sealed bids: a quote waits for its organiser key, never goes in plain
    "sealed": False,
}
KINDS = ("meter", "pv", "battery")


class ConfigError(ValueError):
    pass


def _merge(base, over):
    out = dict(base)
    for k, v in over.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = _merge(out[k], v)
        else:
            out[k] = v
    return out


def _int(cfg, path, lo, hi, where=""):
    cur = cfg
    for p in path.split("."):
        if not isinstance(cur, dict) or p not in cur:
            raise ConfigError("%s%s: missing" % (where, path))
        cur = cur[p]
    if not isinstance(cur, int) or isinstance(cur, bool) or not lo <= cur <= hi:
        raise ConfigError("%s%s: expected an integer in %d..%d, got %r"
                          % (where, path, lo, hi, cur))


def _ident(v, path):
    ok = isinstance(v, str) and 1 <= len(v) <= 32
    if ok:
        for ch in v:
            if not (ch.isalpha() or ch.isdigit() or ch in "_.-") or ord(ch) > 127:
                ok = False
    if not ok:
        raise ConfigError("%s: expected 1-32 characters of A-Z a-z 0-9 _ . -, got %r" % (path, v))


def check(cfg):
    cfg = _merge(DEFAULTS, cfg)
    for f in ("site", "gw", "key_hex", "edge_signer"):
        if f not in cfg:
            raise ConfigError("%s: missing" % f)
    _ident(cfg["site"], "site")
    _ident(cfg["gw"], "gw")
    k = cfg["key_hex"]
    if not isinstance(k, str) or len(k) != 64 or any(c not in "0123456789abcdef" for c in k):
        raise ConfigError("key_hex: expected 64 lowercase hex digits (the 32-byte gateway key)")
    k = cfg["edge_signer"]
    if not isinstance(k, str) or len(k) != 64 or any(c not in "0123456789abcdef" for c in k):
        raise ConfigError("edge_signer: expected 64 lowercase hex digits (the edge's Ed25519"
                          " public key)")
    from gateway.ed25519 import decode

    try:
        decode(bytes.fromhex(k))
    except ValueError:
        raise ConfigError("edge_signer: not an Ed25519 public key (no curve point)")
    _int(cfg, "interval_s", 1, 86400)
    _int(cfg, "poll_ms", 10, 600000)
    _int(cfg, "telemetry_every", 1, 100000)
    _int(cfg, "clock.accel", 1, 1000000)
    for k in ("start_ms", "wall_ms"):
        if k in cfg["clock"]:
            _int(cfg, "clock." + k, 0, 1 << 50)
    ls = cfg["clock"].get("lockstep")
    if ls is not None and (not isinstance(ls, str) or not ls):
        raise ConfigError("clock.lockstep: expected the simulator's tick file path (simulator"
                          " only; leave it out on a board)")
    _int(cfg, "mqtt.port", 1, 65535)
    _int(cfg, "mqtt.keepalive_s", 1, 65535)
    _int(cfg, "mqtt.inflight", 1, 64)
    _int(cfg, "queue.max_bytes", 1024, 1 << 30)
    _int(cfg, "queue.seg_records", 1, 10000)
    _int(cfg, "seq_block", 1, 1000000)
    _int(cfg, "watchdog_ms", 100, 3600000)
    for p in ("sell_min", "buy_max", "margin"):
        _int(cfg, "policy." + p, 0, (1 << 31) - 1)
    _int(cfg, "policy.tick", 1, (1 << 31) - 1)
    if cfg["policy"].get("strategy") not in policy.STRATEGIES:
        raise ConfigError("policy.strategy: expected one of %s, got %r"
                          % (", ".join(policy.STRATEGIES), cfg["policy"].get("strategy")))
    if cfg["policy"].get("carbon_bid") not in policy.CARBON_MODES:
        raise ConfigError("policy.carbon_bid: expected one of %s, got %r"
                          % (", ".join(policy.CARBON_MODES), cfg["policy"].get("carbon_bid")))
    if cfg["policy"].get("carbon_side") not in ("buy", "sell"):
        raise ConfigError("policy.carbon_side: expected buy or sell, got %r"
                          % (cfg["policy"].get("carbon_side"),))
    _int(cfg, "policy.carbon_limit", 0, 1000000000)  # the wire's MAX_CARBON_PRICE
    for p in ("soc_min_pm", "soc_max_pm"):
        _int(cfg, "policy." + p, 0, 1000)
    _int(cfg, "policy.min_qty_wh", 1, (1 << 31) - 1)
    _int(cfg, "policy.revert_s", 1, 65534)
    if cfg["policy"]["soc_min_pm"] >= cfg["policy"]["soc_max_pm"]:
        raise ConfigError("policy.soc_min_pm must be below policy.soc_max_pm")
    if not isinstance(cfg.get("sealed"), bool):
        raise ConfigError("sealed: expected true or false")
    tls = cfg["mqtt"].get("tls")
    if tls is not None and (not isinstance(tls, dict) or "ca" not in tls):
        raise ConfigError("mqtt.tls: expected {\"ca\": path, \"cert\": path, \"key\": path}")
    devs = cfg.get("devices")
    if not isinstance(devs, list) or not devs:
        raise ConfigError("devices: expected a non-empty list")
    names = set()
    for i, d in enumerate(devs):
        where = "devices[%d]" % i
        if not isinstance(d, dict):
            raise ConfigError(where + ": expected an object")
        _ident(d.get("name"), where + ".name")
        if d["name"] in names:
            raise ConfigError(where + ".name: %r used twice" % d["name"])
        names.add(d["name"])
        if d.get("kind") not in KINDS:
            raise ConfigError(where + ".kind: expected one of meter, pv, battery")
        t = d.get("transport", "tcp")
        if t == "tcp":
            if not isinstance(d.get("host", "127.0.0.1"), str) or "port" not in d:
                raise ConfigError(where + ": a tcp device needs host and port")
            _int(d, "port", 1, 65535, where + ".")
        elif t == "rtu":
            if "uart" not in d:
                raise ConfigError(where + ".uart: an rtu device needs a uart (path or id)")
        else:
            raise ConfigError(where + ".transport: expected tcp or rtu, got %r" % t)
        _int(d, "unit", 0, 247, where + ".")
        _int(d, "max_w", 1, 100000000, where + ".")
    return cfg


def load(path):
    try:
        with open(path) as f:
            raw = json.load(f)
    except OSError:
        raise ConfigError("config file %s cannot be read" % path)
    except ValueError as e:
        raise ConfigError("config file %s is not JSON: %s" % (path, e))
    if not isinstance(raw, dict):
        raise ConfigError("config file %s: expected a JSON object" % path)
    return check(raw)
