"""The UART the RTU master needs: write(bytes), read_available() -> bytes, baud.

`open_uart` gives machine.UART on a board and a POSIX serial device (a pty in
tests, /dev/ttyUSB0 on a Linux gateway) on the unix port. The line settings
of a POSIX device are the caller's (stty or socat raw); the unix port has no
termios.
"""

import select


class PosixUart:
    def __init__(self, path, baud):
        self.baud = baud
        self._f = open(path, "r+b")
        self._poll = select.poll()
        self._poll.register(self._f, select.POLLIN)

    def write(self, data):
        self._f.write(data)

    def read_available(self):
        out = bytearray()
        while len(out) < 256 and self._poll.poll(0):
            b = self._f.read(1)
            if not b:
                break
            out.extend(b)
        return bytes(out)

    def close(self):
        self._f.close()


class MachineUart:
    def __init__(self, uart_id, baud, tx=None, rx=None):
        import machine

        kw = {"baudrate": baud, "bits": 8, "parity": 0, "stop": 1}
        if tx is not None:
            kw["tx"] = tx
            kw["rx"] = rx
        self._u = machine.UART(uart_id, **kw)
        self.baud = baud

    def write(self, data):
        self._u.write(data)

    def read_available(self):
        n = self._u.any()
        return self._u.read(n) if n else b""

    def close(self):
        self._u.deinit()


def open_uart(cfg):
    """cfg: {"uart": "/dev/..." or an int UART id, "baud": 19200, "tx"/"rx": pins}."""
    port = cfg["uart"]
    baud = cfg.get("baud", 19200)
    if isinstance(port, int):
        return MachineUart(port, baud, cfg.get("tx"), cfg.get("rx"))
    return PosixUart(port, baud)
