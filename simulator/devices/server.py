"""Serve a fleet over real pymodbus servers: TCP ports and RTU lines on pty pairs.

Each configured server is one pymodbus server (``ModbusTcpServer`` or
``ModbusSerialServer``) holding one ``SimDevice`` per unit id. The register
block of a device spans exactly its SunSpec map, so pymodbus itself answers
0x02 (illegal data address) outside it, and points that are not writable are
marked read-only, so pymodbus answers 0x02 to writes there too. Inside the
map, pymodbus calls our ``action`` for every request: that is where physics is
brought up to date, faults answer, and writes are checked. Every reply frame
passes ``trace_packet``, where silent devices drop their reply and a
``corrupt_crc`` device spoils its CRC.

Unit ids that no device holds: over TCP the server answers 0x0B (gateway
target failed to respond), the usual answer of a Modbus gateway; on an RTU
line nobody answers, as on a real bus.
"""

from __future__ import annotations

import asyncio
import functools
import threading
from dataclasses import dataclass, field

from pymodbus.constants import ExcCodes
from pymodbus.server import ModbusSerialServer, ModbusTcpServer
from pymodbus.simulator import DataType, SimData, SimDevice

from simulator.devices.config import ServerConfig
from simulator.devices.fleet import Fleet
from simulator.devices.ptylink import PtyLink
from simulator.devices.runtime import DeviceRuntime
from simulator.devices.sunspec_map import BASE_ADDRESS

CATCH_ALL_UNIT = 0


def simdata_for(rt: DeviceRuntime) -> list[SimData]:
    """The device's register block: one SimData per point, read-only unless writable."""
    layout = rt.device.layout
    writable = rt.device.writable_points()
    image = rt.image
    blocks = [SimData(BASE_ADDRESS, values=image[0:2], datatype=DataType.REGISTERS, readonly=True)]
    for model in layout.models:
        start = layout.model_address(model.id)
        for p in model.points:
            addr = start + p.offset
            regs = image[addr - BASE_ADDRESS : addr - BASE_ADDRESS + p.size]
            blocks.append(
                SimData(
                    addr,
                    values=list(regs),
                    datatype=DataType.REGISTERS,
                    readonly=p.name not in writable.get(model.id, set()),
                )
            )
    end = layout.end_address
    blocks.append(
        SimData(
            end,
            values=image[end - BASE_ADDRESS : end - BASE_ADDRESS + 2],
            datatype=DataType.REGISTERS,
            readonly=True,
        )
    )
    return blocks


async def _device_action(
    fleet: Fleet,
    rt: DeviceRuntime,
    function_code: int,
    start_address: int,
    address: int,
    count: int,
    registers: list[int],
    values: list[int] | list[bool] | None,
) -> ExcCodes | None:
    """pymodbus hook: refresh, fault, or check a write; see the module docstring."""
    with fleet.lock:
        code = rt.on_request(address, count, None if values is None else [int(v) for v in values])
        if code is not None:
            return ExcCodes(code)
        offset = BASE_ADDRESS - start_address
        registers[offset : offset + len(rt.image)] = rt.image
    return None


async def _catch_all_action(*_args: object) -> ExcCodes:
    return ExcCodes.GATEWAY_NO_RESPONSE


def _catch_all() -> SimDevice:
    return SimDevice(
        id=CATCH_ALL_UNIT,
        simdata=[SimData(0, count=65535, values=0, datatype=DataType.REGISTERS)],
        action=_catch_all_action,
    )


def _trace(fleet: Fleet, units: dict[int, DeviceRuntime], rtu: bool):
    def trace_packet(sending: bool, data: bytes) -> bytes:
        if not sending or not data:
            return data
        unit = data[0] if rtu else (data[6] if len(data) > 6 else -1)
        rt = units.get(unit)
        if rt is None:
            return b"" if rtu else data
        with fleet.lock:
            return rt.on_send(data)

    return trace_packet


@dataclass
class RunningServer:
    """One started server and where clients find it."""

    name: str
    transport: str
    units: list[int]
    host: str | None = None
    port: int | None = None
    client_path: str | None = None
    server: ModbusTcpServer | ModbusSerialServer | None = field(default=None, repr=False)
    link: PtyLink | None = field(default=None, repr=False)

    def address(self) -> dict:
        out: dict = {"name": self.name, "transport": self.transport, "units": self.units}
        if self.transport == "tcp":
            out.update(host=self.host, port=self.port)
        else:
            out.update(path=self.client_path)
        return out

    async def stop(self) -> None:
        if self.server is not None:
            await self.server.shutdown()
            self.server = None
        if self.link is not None:
            self.link.close()
            self.link = None


async def start_server(fleet: Fleet, cfg: ServerConfig) -> RunningServer:
    """Start one configured server; it listens before this returns."""
    units = fleet.by_server[cfg.name]
    devices = [
        SimDevice(
            id=unit,
            simdata=simdata_for(rt),
            action=functools.partial(_device_action, fleet, rt),
        )
        for unit, rt in sorted(units.items())
    ]
    devices.append(_catch_all())
    rtu = cfg.transport == "rtu"
    trace = _trace(fleet, units, rtu)
    running = RunningServer(cfg.name, cfg.transport, sorted(units))
    if rtu:
        link = PtyLink(cfg.name)
        running.link, running.client_path = link, link.client_path
        server = ModbusSerialServer(
            devices, port=link.server_path, baudrate=cfg.baudrate, trace_packet=trace
        )
    else:
        server = ModbusTcpServer(devices, address=(cfg.host, cfg.port), trace_packet=trace)
    try:
        await server.serve_forever(background=True)
    except Exception:
        await running.stop()
        raise
    running.server = server
    if not rtu:
        running.host, running.port = server.transport.sockets[0].getsockname()[:2]
    return running


async def start_fleet(fleet: Fleet) -> list[RunningServer]:
    started: list[RunningServer] = []
    try:
        for cfg in fleet.cfg.servers:
            started.append(await start_server(fleet, cfg))
    except Exception:
        for s in started:
            await s.stop()
        raise
    return started


class FleetHost:
    """Runs a fleet's servers on an event loop in a background thread.

    For synchronous callers (tests, scripts): ``start()`` returns once every
    server listens; commands go to the Fleet directly, which is thread-safe.
    """

    def __init__(self, fleet: Fleet) -> None:
        self.fleet = fleet
        self.servers: list[RunningServer] = []
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)

    def start(self, timeout_s: float = 15.0) -> FleetHost:
        self._thread.start()
        fut = asyncio.run_coroutine_threadsafe(start_fleet(self.fleet), self._loop)
        self.servers = fut.result(timeout_s)
        return self

    def stop(self) -> None:
        if not self._thread.is_alive():
            return

        async def _stop() -> None:
            for s in self.servers:
                await s.stop()

        asyncio.run_coroutine_threadsafe(_stop(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()

    def server(self, name: str) -> RunningServer:
        for s in self.servers:
            if s.name == name:
                return s
        raise KeyError(name)

    def addresses(self) -> list[dict]:
        return [s.address() for s in self.servers]

    def __enter__(self) -> FleetHost:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
