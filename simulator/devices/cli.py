"""``carbon-edge devices ...``: serve, command, read and inspect simulated devices.

``serve`` runs in the foreground and prints where everything listens as one
JSON line; the fault commands (``fault``, ``clear``, ``reboot``, ``advance``,
``status``) talk to a running ``serve`` over its control channel
(control.py). ``read`` is a small SunSpec poller for checking any device by
hand; ``map`` prints the register map; ``day`` runs a simulated day offline.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys
from typing import Any

from edge import cliargs
from edge.cli import UsageError, emit
from simulator.devices import control
from simulator.devices.config import ConfigError, FleetConfig, config_from_flags, parse_config
from simulator.devices.faults import ACTIONS, FAULT_KINDS
from simulator.devices.fleet import Fleet
from simulator.devices.sunspec_map import BASE_ADDRESS, DeviceLayout, model_def, scaled_values

LAYOUTS = {"meter": (1, 203), "battery": (1, 124, 203), "pv": (1, 103)}


# ---------------------------------------------------------------- helpers


def _fleet_config(args: argparse.Namespace) -> FleetConfig:
    try:
        if args.config:
            with open(args.config, encoding="utf-8") as fh:
                try:
                    data = json.load(fh)
                except json.JSONDecodeError as exc:
                    raise UsageError(
                        f"{args.config} is not JSON: {exc.msg} (line {exc.lineno})"
                    ) from None
            overrides = {"seed": args.seed, "accel": args.accel, "start": args.start}
            data.update({k: v for k, v in overrides.items() if v is not None})
            return parse_config(data)
        return config_from_flags(
            args.meters if args.meters is not None else 2,
            args.batteries if args.batteries is not None else 1,
            port=args.port,
            transport=args.transport,
            per_device=args.per_device,
            seed=args.seed or 0,
            accel=args.accel,
            start=args.start,
        )
    except ConfigError as exc:
        raise UsageError(f"bad device configuration: {exc}") from None


def _add_fleet_args(p: argparse.ArgumentParser,
                    accel_help: str = "simulated seconds per wall second") -> None:
    p.add_argument("--config", help="devices JSON file (see docs/devices.md)")
    p.add_argument("--meters", type=int, help="number of meters without --config (default 2)")
    p.add_argument("--batteries", type=int, help="number of batteries without --config (default 1)")
    p.add_argument("--port", type=cliargs.port_or_zero, default=0,
                   help="TCP port (0 = any free port)")
    p.add_argument("--transport", choices=("tcp", "rtu"), default="tcp")
    p.add_argument("--per-device", action="store_true", help="one server per device")
    p.add_argument("--seed", type=int, help="random seed (overrides the config's)")
    p.add_argument("--accel", type=float, help=accel_help)
    p.add_argument("--start", help="simulated start, ISO 8601 (naive = UTC = solar time)")


def _control_addr(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    if not host or not port.isdigit():
        raise UsageError(f"--control wants HOST:PORT, got {text!r}")
    return host, int(port)


def _call(args: argparse.Namespace, req: dict) -> dict:
    host, port = _control_addr(args.control)
    try:
        reply = control.send(host, port, req)
    except OSError as exc:
        raise UsageError(f"cannot reach the control channel at {args.control}: {exc}") from None
    if not reply.get("ok"):
        raise UsageError(reply.get("error", "the simulator refused the request"))
    return reply


# ---------------------------------------------------------------- actions


def _serve(args: argparse.Namespace) -> int:
    from simulator.devices.server import start_fleet

    stopped = args.accel == 0   # --accel 0: the clock moves only by `advance`
    if stopped:
        args.accel = None
    cfg = _fleet_config(args)
    if cfg.accel is None and not stopped:  # served devices live in real time by default
        cfg = cfg.model_copy(update={"accel": 1.0})
    fleet = Fleet(cfg)

    async def run() -> None:
        servers = await start_fleet(fleet)
        ctl = await control.serve_control(fleet, args.control_port)
        info: dict[str, Any] = {
            "servers": [s.address() for s in servers],
            "control": {"host": "127.0.0.1", "port": ctl.sockets[0].getsockname()[1]},
            "devices": {rt.name: {"server": rt.server, "unit": rt.unit} for rt in fleet},
            "start_ms": fleet.clock.start_ms,
            "accel": cfg.accel,
        }
        print(json.dumps(info, sort_keys=True), flush=True)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        try:
            if args.duration:
                await asyncio.wait_for(stop.wait(), args.duration)
            else:
                await stop.wait()
        except asyncio.TimeoutError:
            pass
        finally:
            ctl.close()
            for s in servers:
                await s.stop()

    try:
        asyncio.run(run())
    except OSError as exc:
        raise UsageError(f"cannot start the servers: {exc}") from None
    return 0


def _fault(args: argparse.Namespace) -> int:
    if args.kind == "reboot":
        reply = _call(args, {"op": "reboot", "device": args.device, "down_s": args.down})
    else:
        reply = _call(
            args,
            {"op": "fault", "device": args.device, "kind": args.kind,
             "duration_s": args.duration, "code": args.code},
        )  # fmt: skip
    emit(reply, args.json, f"{args.device}: {args.kind} applied")
    return 0


def _clear(args: argparse.Namespace) -> int:
    reply = _call(args, {"op": "clear", "device": args.device, "kind": args.kind})
    emit(reply, args.json, f"{args.device}: {'all faults' if not args.kind else args.kind} cleared")
    return 0


def _advance(args: argparse.Namespace) -> int:
    reply = _call(args, {"op": "advance", "seconds": args.seconds})
    emit(reply, args.json, f"simulated time now {reply['now_ms']} ms")
    return 0


def _status(args: argparse.Namespace) -> int:
    reply = _call(args, {"op": "status"})
    lines = [f"t = {reply['elapsed_s']:.0f} s"]
    for d in reply["devices"]:
        ph = d["physics"]
        lines.append(
            f"{d['name']:>12} {d['kind']:<8} W={ph['w']:>7} imp={ph['import_wh']} "
            f"exp={ph['export_wh']} faults={','.join(d['faults']) or '-'}"
        )
    emit(reply, args.json, "\n".join(lines))
    return 0


def _read(args: argparse.Namespace) -> int:
    from pymodbus.client import ModbusSerialClient, ModbusTcpClient

    from simulator.devices.reader import ReadError, read_device

    if args.serial:
        client = ModbusSerialClient(args.serial, baudrate=args.baudrate, timeout=args.timeout)
    else:
        client = ModbusTcpClient(args.host, port=args.port, timeout=args.timeout, retries=0)
    if not client.connect():
        raise UsageError(f"cannot connect to {args.serial or f'{args.host}:{args.port}'}")
    try:
        raw = read_device(client, args.unit)
    except (ReadError, OSError, ValueError) as exc:
        print(f"carbon-edge devices: read failed: {exc}", file=sys.stderr)
        return 1
    finally:
        client.close()
    out = {str(m): scaled_values(model_def(m), vals) for m, vals in raw.items()}
    text = "\n".join(
        f"model {m}: " + ", ".join(f"{k}={v}" for k, v in vals.items() if k not in ("ID", "L"))
        for m, vals in out.items()
    )
    emit(out, args.json, text)
    return 0


def register_map(kind: str) -> list[dict]:
    """Every point of a device kind with its address: the table in docs/devices.md."""
    layout = DeviceLayout(LAYOUTS[kind])
    rows: list[dict] = [
        {"address": BASE_ADDRESS, "mbpoll": BASE_ADDRESS + 1, "model": None, "point": "SunS",
         "type": "string", "size": 2, "sf": None, "units": None, "access": "R"}
    ]  # fmt: skip
    for m in layout.models:
        base = layout.model_address(m.id)
        for p in m.points:
            rows.append({
                "address": base + p.offset, "mbpoll": base + p.offset + 1, "model": m.id,
                "point": p.name, "type": p.type, "size": p.size, "sf": p.sf,
                "units": p.units.strip() if p.units else None,
                "access": "RW" if p.name in _writable(kind).get(m.id, set()) else "R",
            })  # fmt: skip
    end = layout.end_address
    for offset, name in ((0, "ID"), (1, "L")):
        rows.append({
            "address": end + offset, "mbpoll": end + offset + 1, "model": 0xFFFF, "point": name,
            "type": "uint16", "size": 1, "sf": None, "units": None, "access": "R",
        })  # fmt: skip
    return rows


def _writable(kind: str) -> dict[int, frozenset[str]]:
    from simulator.devices.battery import Battery

    return Battery.WRITABLE if kind == "battery" else {}


def _map(args: argparse.Namespace) -> int:
    rows = register_map(args.kind)
    header = f"{'addr':>5} {'model':>5} {'point':<18} {'type':<10} {'sz':>2} {'sf':<16} " \
        f"{'units':<5} access"
    text = header + "\n" + "\n".join(
        f"{r['address']:>5} {str(r['model'] or ''):>5} {r['point']:<18} {r['type']:<10} "
        f"{r['size']:>2} {r['sf'] or '':<16} {r['units'] or '':<5} {r['access']}"
        for r in rows
    )
    emit(rows, args.json, text)
    return 0


def _day(args: argparse.Namespace) -> int:
    if args.hours <= 0:
        raise UsageError(f"--hours must be > 0, got {args.hours}")
    fleet = Fleet(_fleet_config(args))
    stepped = 0.0
    extremes: dict[str, list[int]] = {rt.name: [0, 0] for rt in fleet}
    while stepped < args.hours * 3600:
        step = min(900.0, args.hours * 3600 - stepped)
        fleet.advance(step)
        stepped += step
        for rt in fleet:
            w = rt.device.snapshot()["w"]
            lo_hi = extremes[rt.name]
            lo_hi[0], lo_hi[1] = min(lo_hi[0], int(w)), max(lo_hi[1], int(w))
    out = []
    for rt in fleet:
        ph = rt.device.snapshot()
        lo, hi = extremes[rt.name]
        row = {"device": rt.name, "kind": type(rt.device).__name__.lower(),
               "import_wh": ph["import_wh"], "export_wh": ph["export_wh"],
               "min_w_15min": lo, "max_w_15min": hi}  # fmt: skip
        if "soc_pct" in ph:
            row["soc_pct"] = round(float(ph["soc_pct"]), 2)
        out.append(row)
    text = "\n".join(
        f"{r['device']:>12} import {r['import_wh']:>7} Wh  export {r['export_wh']:>7} Wh"
        for r in out
    )
    emit({"hours": args.hours, "devices": out}, args.json, text)
    return 0


# ---------------------------------------------------------------- parser


def register(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", metavar="ACTION")

    p = cliargs.leaf(sub, "serve", "serve simulated devices over Modbus TCP/RTU",
                     "carbon-edge devices serve --meters 2 --batteries 1")
    _add_fleet_args(p, accel_help="simulated seconds per wall second (default: the config's, "
                                   "else 1, real time; 0: the clock moves only by `devices "
                                   "advance`)")
    p.add_argument("--control-port", type=cliargs.port_or_zero, default=0,
                   help="control channel port (0 = any)")
    p.add_argument("--duration", type=float, help="stop after this many wall seconds")
    p.set_defaults(func=_serve)

    def with_control(q: argparse.ArgumentParser) -> None:
        q.add_argument("--control", required=True, help="HOST:PORT printed by serve")
        q.add_argument("--json", action="store_true")

    p = cliargs.leaf(sub, "fault", "inject a fault into a running device (or reboot it)",
                     "carbon-edge devices fault --control 127.0.0.1:5020 --device meter-1 "
                     "--kind offline --duration 60")
    with_control(p)
    p.add_argument("--device", required=True, help="device name, e.g. bus/3")
    p.add_argument("--kind", required=True, choices=ACTIONS)
    p.add_argument("--duration", type=float, help="simulated seconds (default: until cleared)")
    p.add_argument("--code", type=int, help="exception code for --kind exception (default 4)")
    p.add_argument("--down", type=float, default=0.0, help="reboot: silent for this many s")
    p.set_defaults(func=_fault)

    p = cliargs.leaf(sub, "clear", "clear one fault kind, or all, on a device",
                     "carbon-edge devices clear --control 127.0.0.1:5020 --device meter-1")
    with_control(p)
    p.add_argument("--device", required=True)
    p.add_argument("--kind", choices=FAULT_KINDS)
    p.set_defaults(func=_clear)

    p = cliargs.leaf(sub, "advance", "move simulated time forward",
                     "carbon-edge devices advance --control 127.0.0.1:5020 --seconds 900")
    with_control(p)
    p.add_argument("--seconds", type=float, required=True, help="simulated seconds")
    p.set_defaults(func=_advance)

    p = cliargs.leaf(sub, "status", "time, physics, faults and counters of every device",
                     "carbon-edge devices status --control 127.0.0.1:5020")
    with_control(p)
    p.set_defaults(func=_status)

    p = cliargs.leaf(sub, "read", "scan and decode a SunSpec device (any, not only ours)",
                     "carbon-edge devices read --host 127.0.0.1 --port 5020 --unit 1")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=cliargs.port, default=502)
    p.add_argument("--serial", help="serial port path (RTU) instead of TCP")
    p.add_argument("--baudrate", type=int, default=19200)
    p.add_argument("--unit", type=int, default=1)
    p.add_argument("--timeout", type=cliargs.positive_float, default=2.0)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_read)

    p = cliargs.leaf(sub, "map", "print the register map of a device kind",
                     "carbon-edge devices map --kind battery")
    p.add_argument("--kind", choices=sorted(LAYOUTS), default="meter")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_map)

    p = cliargs.leaf(sub, "day", "simulate offline and print energy totals per device",
                     "carbon-edge devices day --meters 2 --batteries 1 --hours 24")
    _add_fleet_args(p)
    p.add_argument("--hours", type=cliargs.finite_float, default=24.0)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_day)
