"""Carbon-edge gateway firmware (MicroPython): see docs/firmware.md."""
