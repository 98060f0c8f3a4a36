"""Modbus RTU (Modbus over Serial Line v1.02): CRC-16, framing, timing, the master.

Framing and CRC are pure functions; `RtuMaster` drives a UART through the
small interface in uart.py (write(bytes), read_available() -> bytes,
baud), so the same code runs on machine.UART and on a pty under the unix
port. One transaction at a time per bus (an RS-485 line is half duplex); the
lock is shared by every device on the line, and callers keep their timeouts
short so a silent device costs one timeout, then its back-off.
"""

import time

try:
    import asyncio
except ImportError:  # pragma: no cover - very old ports
    import uasyncio as asyncio

from gateway.modbus import (ModbusCrcError, ModbusFrameError, ModbusTimeout,
                            expected_length, parse_response)


def _table():
    t = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ 0xA001 if c & 1 else c >> 1
        t.append(c)
    return t


_CRC = _table()


def crc16(data):
    """CRC-16/MODBUS (poly 0xA001 reflected, init 0xFFFF); sent low byte first."""
    crc = 0xFFFF
    t = _CRC
    for b in data:
        crc = (crc >> 8) ^ t[(crc ^ b) & 0xFF]
    return crc


def frame(unit, pdu):
    """ADU = unit address + PDU + CRC (low byte first)."""
    body = bytes([unit]) + pdu
    c = crc16(body)
    return body + bytes([c & 0xFF, c >> 8])


def unframe(unit, adu):
    """Check address and CRC of a received ADU and return its PDU."""
    if len(adu) < 4:
        raise ModbusFrameError("frame of %d bytes is too short" % len(adu))
    c = crc16(adu[:-2])
    if adu[-2] != c & 0xFF or adu[-1] != c >> 8:
        raise ModbusCrcError("CRC mismatch (got %02x%02x, computed %04x)"
                             % (adu[-1], adu[-2], c))
    if adu[0] != unit:
        raise ModbusFrameError("reply from unit %d, expected %d" % (adu[0], unit))
    return adu[1:-2]


def char_time_us(baud):
    """One RTU character = 11 bits (start, 8 data, parity or 2nd stop, stop)."""
    return 11 * 1000000 // baud


def t35_us(baud):
    """Inter-frame silence: 3.5 characters, fixed 1750 us above 19200 baud (spec 2.5.1.1)."""
    return 1750 if baud > 19200 else (385000000 + 10 * baud - 1) // (10 * baud)


def reply_length(request_pdu, got):
    """Full ADU length expected once `got` bytes have arrived (exceptions are 5 bytes)."""
    if len(got) >= 2 and got[1] & 0x80:
        return 5
    return 1 + expected_length(request_pdu) + 2


class RtuMaster:
    def __init__(self, uart, timeout_ms=200, retries=1):
        self.uart = uart
        self.timeout_ms = timeout_ms
        self.retries = retries
        self.lock = asyncio.Lock()
        self._idle_since = time.ticks_us()
        self.t35 = t35_us(uart.baud)

    async def _silence(self):
        # The bus must be quiet for 3.5 characters before a new frame starts.
        wait = self.t35 - time.ticks_diff(time.ticks_us(), self._idle_since)
        if wait > 0:
            await asyncio.sleep_ms((wait + 999) // 1000)
        self.uart.read_available()  # discard line noise / late replies

    async def _receive(self, pdu, timeout_ms):
        buf = bytearray()
        start = time.ticks_ms()
        last = None
        need = None
        while True:
            chunk = self.uart.read_available()
            now = time.ticks_us()
            if chunk:
                buf.extend(chunk)
                last = now
                if need is None and len(buf) >= 2:
                    need = reply_length(pdu, buf)
                if need is not None and len(buf) >= need:
                    break
            elif last is not None and time.ticks_diff(now, last) > self.t35 + 2000:
                break  # frame ended by silence (+2 ms for OS scheduling on the unix port)
            elif last is None and time.ticks_diff(time.ticks_ms(), start) > timeout_ms:
                raise ModbusTimeout("no reply within %d ms" % timeout_ms)
            await asyncio.sleep_ms(1)
        self._idle_since = time.ticks_us()
        return bytes(buf)

    async def transact(self, unit, pdu, timeout_ms=None):
        """Send one request PDU to `unit`, return the parsed response (retries on timeout/CRC)."""
        timeout_ms = timeout_ms or self.timeout_ms
        err = None
        async with self.lock:
            for _ in range(1 + self.retries):
                await self._silence()
                self.uart.write(frame(unit, pdu))
                self._idle_since = time.ticks_us()
                try:
                    adu = await self._receive(pdu, timeout_ms)
                    return parse_response(pdu, unframe(unit, adu))
                except (ModbusTimeout, ModbusFrameError) as e:
                    err = e
        raise err
