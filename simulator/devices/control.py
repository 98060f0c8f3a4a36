"""The running simulator's control channel: JSON lines over a loopback TCP socket.

Why not HTTP: the channel carries five small commands from our own CLI (and
from ``nc`` by hand) to a process that is already an asyncio loop serving
Modbus; a line of JSON in and a line of JSON out needs nothing beyond the
standard library and cannot disturb the Modbus servers. It binds to
127.0.0.1 only: it is a test harness, not a remote API.

Requests: ``{"op": "fault", "device": NAME, "kind": KIND, "duration_s": S?, "code": C?}``,
``{"op": "clear", "device": NAME, "kind": KIND?}``,
``{"op": "reboot", "device": NAME, "down_s": S?}``,
``{"op": "advance", "seconds": S}``, ``{"op": "status"}``.
Replies: ``{"ok": true, ...}`` or ``{"ok": false, "error": "one sentence"}``.
"""

from __future__ import annotations

import asyncio
import json
import socket
from typing import Any

from simulator.devices.faults import FaultError
from simulator.devices.fleet import Fleet

MAX_LINE = 64 * 1024
OPS = ("fault", "clear", "reboot", "advance", "status")


class ControlError(ValueError):
    """A control request that cannot be carried out."""


def _number(req: dict, key: str, required: bool = False) -> float | None:
    value = req.get(key)
    if value is None:
        if required:
            raise ControlError(f"{key} is required for op {req.get('op')!r}")
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ControlError(f"{key} must be a number, got {value!r}")
    return float(value)


def _device(req: dict) -> str:
    name = req.get("device")
    if not isinstance(name, str) or not name:
        raise ControlError(f"device (a device name) is required for op {req.get('op')!r}")
    return name


def handle(fleet: Fleet, req: Any) -> dict:
    """One request -> one reply; never raises, errors become ``ok: false``."""
    try:
        if not isinstance(req, dict):
            raise ControlError("a request is a JSON object")
        op = req.get("op")
        if op == "fault":
            code = req.get("code")
            if code is not None and (isinstance(code, bool) or not isinstance(code, int)):
                raise ControlError(f"code must be an integer, got {code!r}")
            kind = req.get("kind")
            if not isinstance(kind, str):
                raise ControlError("kind is required for op 'fault'")
            f = fleet.fault(_device(req), kind, _number(req, "duration_s"), code)
            return {"ok": True, "fault": f.kind, "until_ms": f.until_ms, "code": f.code}
        if op == "clear":
            kind = req.get("kind")
            if kind is not None and not isinstance(kind, str):
                raise ControlError("kind must be a string")
            fleet.clear(_device(req), kind)
            return {"ok": True}
        if op == "reboot":
            fleet.reboot(_device(req), _number(req, "down_s") or 0.0)
            return {"ok": True}
        if op == "advance":
            seconds = _number(req, "seconds", required=True)
            if seconds is None or seconds < 0:
                raise ControlError(f"seconds must be >= 0, got {seconds}")
            return {"ok": True, "now_ms": fleet.advance(seconds)}
        if op == "status":
            return {"ok": True, **fleet.status()}
        raise ControlError(f"unknown op {op!r}; expected one of {', '.join(OPS)}")
    except (ControlError, FaultError) as exc:
        with fleet.lock:
            fleet.stats["control_rejected"] += 1
        return {"ok": False, "error": str(exc)}


async def serve_control(fleet: Fleet, port: int = 0) -> asyncio.AbstractServer:
    """Start the control channel on 127.0.0.1:port (0 = any free port)."""

    async def on_client(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                try:
                    line = await reader.readline()
                except ValueError:  # longer than the stream limit
                    reply = {"ok": False, "error": f"request longer than {MAX_LINE} bytes"}
                    writer.write(json.dumps(reply).encode() + b"\n")
                    await writer.drain()
                    break
                if not line:
                    break
                try:
                    reply = handle(fleet, json.loads(line))
                except json.JSONDecodeError as exc:
                    reply = {"ok": False, "error": f"request is not JSON: {exc.msg}"}
                writer.write(json.dumps(reply, sort_keys=True).encode() + b"\n")
                await writer.drain()
        except ConnectionError:
            pass
        finally:
            writer.close()

    return await asyncio.start_server(on_client, "127.0.0.1", port, limit=MAX_LINE + 1)


def send(host: str, port: int, req: dict, timeout_s: float = 10.0) -> dict:
    """Client side: one request, one reply."""
    with socket.create_connection((host, port), timeout=timeout_s) as sock:
        sock.sendall(json.dumps(req).encode() + b"\n")
        buf = b""
        while not buf.endswith(b"\n"):
            chunk = sock.recv(65536)
            if not chunk:
                break
            buf += chunk
    if not buf:
        raise ConnectionError(f"control channel {host}:{port} closed without a reply")
    return json.loads(buf)
