"""Modbus TCP client (MBAP framing, Modbus Messaging on TCP/IP v1.0b) over asyncio streams.

One connection per device server, reconnected lazily after any failure so a
half-dead socket never lingers; transaction ids are checked so a late reply
to a timed-out request is never taken for the current one.
"""

import struct

try:
    import asyncio
except ImportError:  # pragma: no cover
    import uasyncio as asyncio

from gateway.modbus import ModbusFrameError, ModbusTimeout, parse_response
from gateway.streams import close_quietly


def mbap(tid, unit, pdu):
    return struct.pack(">HHHB", tid, 0, len(pdu) + 1, unit) + pdu


class TcpMaster:
    def __init__(self, host, port, timeout_ms=300):
        self.host = host
        self.port = port
        self.timeout_ms = timeout_ms
        self.lock = asyncio.Lock()
        self._r = None
        self._w = None
        self._tid = 0

    async def _close(self):
        w = self._w
        self._r = self._w = None
        await close_quietly(w)

    async def _exchange(self, unit, pdu):
        if self._w is None:
            self._r, self._w = await asyncio.open_connection(self.host, self.port)
        self._tid = (self._tid + 1) & 0xFFFF
        self._w.write(mbap(self._tid, unit, pdu))
        await self._w.drain()
        while True:
            head = await self._r.readexactly(7)
            tid, proto, length, u = struct.unpack(">HHHB", head)
            if proto != 0 or not 2 <= length <= 254:
                raise ModbusFrameError("bad MBAP header")
            body = await self._r.readexactly(length - 1)
            if tid == self._tid:
                if u != unit:
                    raise ModbusFrameError("reply from unit %d, expected %d" % (u, unit))
                return body
            # a stale reply to an earlier, timed-out request: skip it

    async def transact(self, unit, pdu, timeout_ms=None):
        timeout_ms = timeout_ms or self.timeout_ms
        async with self.lock:
            try:
                body = await asyncio.wait_for_ms(self._exchange(unit, pdu), timeout_ms)
            except asyncio.TimeoutError:
                await self._close()
                raise ModbusTimeout("no reply within %d ms" % timeout_ms)
            except ModbusFrameError:
                await self._close()
                raise
            except (OSError, EOFError) as e:
                await self._close()
                raise ModbusTimeout("connection: %r" % (e,))
        return parse_response(pdu, body)

    async def close(self):
        await self._close()
