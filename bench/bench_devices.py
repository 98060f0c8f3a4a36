"""Simulated devices: how fast the servers answer polls, and how fast physics runs.

Cases:
- ``poll_tcp_50``: full-map reads (SunS marker to end model, 2 requests of at
  most 125 registers each) per second from a pymodbus sync client, cycling
  over 50 devices on one TCP server. Baseline: the same reads from a plain
  pymodbus SimDevice holding the same registers with no action hook, so the
  ratio is the cost of our physics, faults and encoding per request. Target:
  50 reads/s, i.e. a gateway polling 50 devices once a second.
- ``poll_tcp_50_accel60``: the same with the clock running 60x wall time, so
  every read integrates and re-encodes its device (the ``serve --accel`` case).
- ``physics_day_50``: simulated seconds per wall second when 50 meters and
  batteries integrate a day in 15-minute steps (what ``--accel`` can reach
  without falling behind). Target: a day in a minute (1440 s/s).

``--quick`` runs fewer polls and a shorter simulated span.
"""

from __future__ import annotations

import asyncio
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._common import args, line  # noqa: E402
from simulator.devices.config import config_from_flags  # noqa: E402
from simulator.devices.fleet import Fleet  # noqa: E402
from simulator.devices.reader import read_registers  # noqa: E402
from simulator.devices.server import FleetHost  # noqa: E402
from simulator.devices.sunspec_map import BASE_ADDRESS  # noqa: E402


def _poll_rate(host: str, port: int, units: list[int], sizes: dict[int, int], n: int) -> float:
    from pymodbus.client import ModbusTcpClient

    c = ModbusTcpClient(host, port=port, timeout=2, retries=0)
    assert c.connect()
    try:
        read_registers(c, units[0], BASE_ADDRESS, sizes[units[0]])  # warm up
        t = time.perf_counter()
        for i in range(n):
            u = units[i % len(units)]
            read_registers(c, u, BASE_ADDRESS, sizes[u])
        return n / (time.perf_counter() - t)
    finally:
        c.close()


def _baseline_rate(fleet: Fleet, n: int) -> float:
    """The same register images in a plain pymodbus server (no action hook)."""
    from pymodbus.server import ModbusTcpServer
    from pymodbus.simulator import DataType, SimData, SimDevice

    loop = asyncio.new_event_loop()
    th = threading.Thread(target=loop.run_forever, daemon=True)
    th.start()
    units = fleet.by_server["bus"]
    devices = [
        SimDevice(id=u, simdata=[SimData(BASE_ADDRESS, values=list(rt.image),
                                         datatype=DataType.REGISTERS)])
        for u, rt in units.items()
    ]  # fmt: skip

    async def start() -> ModbusTcpServer:
        s = ModbusTcpServer(devices, address=("127.0.0.1", 0))
        await s.serve_forever(background=True)
        return s

    server = asyncio.run_coroutine_threadsafe(start(), loop).result(10)
    try:
        port = server.transport.sockets[0].getsockname()[1]
        sizes = {u: len(rt.image) for u, rt in units.items()}
        return _poll_rate("127.0.0.1", port, sorted(units), sizes, n)
    finally:
        asyncio.run_coroutine_threadsafe(server.shutdown(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        th.join(5)


def main() -> int:
    a = args(__doc__)
    n = 200 if a.quick else 2000
    fleet = Fleet(config_from_flags(45, 5))
    with FleetHost(fleet) as host:
        srv = host.servers[0]
        sizes = {u: len(rt.image) for u, rt in fleet.by_server["bus"].items()}
        fleet.advance(12 * 3600)
        ours = _poll_rate(srv.host, srv.port, srv.units, sizes, n)
    base = _baseline_rate(fleet, n)
    line("devices", "poll_tcp_50", ours, "reads/s", baseline=base, target=50)

    # with a running clock every read re-integrates and re-encodes its device
    fleet = Fleet(config_from_flags(45, 5, accel=60.0))
    with FleetHost(fleet) as host:
        srv = host.servers[0]
        running = _poll_rate(srv.host, srv.port, srv.units, sizes, n)
    line("devices", "poll_tcp_50_accel60", running, "reads/s", baseline=base, target=50)

    span_h = 2 if a.quick else 24
    fleet = Fleet(config_from_flags(45, 5))
    t = time.perf_counter()
    for _ in range(span_h * 4):
        fleet.advance(900)
    rate = span_h * 3600 / (time.perf_counter() - t)
    line("devices", "physics_day_50", rate, "sim_s/s", target=1440)
    return 0


if __name__ == "__main__":
    sys.exit(main())
