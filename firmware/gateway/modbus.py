"""Modbus application layer (PDU) from the Modbus Application Protocol v1.1b3.

Pure functions: request PDUs out, response PDUs in. The transports (rtu.py,
mbtcp.py) add the serial or TCP framing; nothing here touches a bus.
"""

import struct

READ_HOLDING = 0x03
WRITE_SINGLE = 0x06
WRITE_MULTIPLE = 0x10
MAX_READ = 125
MAX_WRITE = 123

EXCEPTIONS = {
    1: "illegal function",
    2: "illegal data address",
    3: "illegal data value",
    4: "server device failure",
    5: "acknowledge",
    6: "server device busy",
    8: "memory parity error",
    10: "gateway path unavailable",
    11: "gateway target failed to respond",
}


class ModbusError(Exception):
    """A failed transaction; `kind` is the counter it feeds."""

    kind = "error"


class ModbusTimeout(ModbusError):
    kind = "timeout"


class ModbusException(ModbusError):
    """The device answered with an exception response."""

    kind = "exception"

    def __init__(self, function, code):
        self.function = function
        self.code = code
        super().__init__("function 0x%02x: exception %d (%s)"
                         % (function, code, EXCEPTIONS.get(code, "unknown")))


class ModbusFrameError(ModbusError):
    """A reply that is not a well-formed answer to the request (CRC, length, echo)."""

    kind = "frame"


class ModbusCrcError(ModbusFrameError):
    kind = "crc"


def read_holding_request(address, count):
    if not 1 <= count <= MAX_READ:
        raise ValueError("register count %d outside 1..%d" % (count, MAX_READ))
    if not 0 <= address <= 0xFFFF - count + 1:
        raise ValueError("address %d out of range" % address)
    return struct.pack(">BHH", READ_HOLDING, address, count)


def write_multiple_request(address, values):
    n = len(values)
    if not 1 <= n <= MAX_WRITE:
        raise ValueError("register count %d outside 1..%d" % (n, MAX_WRITE))
    body = bytearray(struct.pack(">BHHB", WRITE_MULTIPLE, address, n, 2 * n))
    for v in values:
        body.extend(struct.pack(">H", v & 0xFFFF))
    return bytes(body)


def write_single_request(address, value):
    return struct.pack(">BHH", WRITE_SINGLE, address, value & 0xFFFF)


def expected_length(request):
    """The response PDU length a well-behaved device sends for `request`."""
    fc = request[0]
    if fc == READ_HOLDING:
        return 2 + 2 * struct.unpack(">H", request[3:5])[0]
    if fc in (WRITE_SINGLE, WRITE_MULTIPLE):
        return 5
    raise ValueError("unsupported function 0x%02x" % fc)


def parse_response(request, pdu):
    """Check `pdu` answers `request`; registers (list) for reads, None for writes."""
    if not pdu:
        raise ModbusFrameError("empty response")
    fc = request[0]
    if pdu[0] == fc | 0x80:
        if len(pdu) != 2:
            raise ModbusFrameError("exception response of %d bytes" % len(pdu))
        raise ModbusException(fc, pdu[1])
    if pdu[0] != fc:
        raise ModbusFrameError("function 0x%02x answered with 0x%02x" % (fc, pdu[0]))
    if fc == READ_HOLDING:
        count = struct.unpack(">H", request[3:5])[0]
        if len(pdu) < 2 or pdu[1] != 2 * count or len(pdu) != 2 + 2 * count:
            raise ModbusFrameError("read of %d registers answered with %d bytes"
                                   % (count, len(pdu) - 2))
        return list(struct.unpack(">%dH" % count, pdu[2:]))
    if len(pdu) != 5 or pdu[1:5] != request[1:5]:
        raise ModbusFrameError("write not echoed")
    return None
