"""The gateway firmware on the real MicroPython unix port: pytest fixtures over simulator.firmware.

simulator/firmware.py runs the firmware (`run_mp(code)` with the firmware's
modules importable, `Firmware` for a whole gateway process with its JSON log,
`gateway_config(...)`, `sign_downlink(msg)` with the fixed test edge key that
`gateway_config` provisions, the compiled build and the board-sized heap);
here the fixtures: `firmware_factory(config, board=None)` starts gateways in
fresh directories and kills them after the test, `board` runs a test once on
the sources with the port's heap and once on the compiled build with an
ESP32-class heap. A missing port or mpy-cross skips the test.
"""

from __future__ import annotations

import pytest

from simulator import firmware as _fw
from simulator.firmware import (  # noqa: F401 - the kit's public names
    BOARD_HEAP_KB,
    FIRMWARE,
    MICROPYTHON,
    NO_MP,
    ROOT,
    TEST_EDGE_SEED,
    TEST_EDGE_SIGNER,
    TEST_KEY_HEX,
    Board,
    Firmware,
    FirmwareUnavailable,
    board_heap,
    code_kb,
    gateway_config,
    micropython_binary,
    mp_command,
    mp_env,
    mpy_build,
    sign_downlink,
)


def run_mp(*args, **kw):
    """simulator.firmware.run_mp, skipping the test without the port."""
    if MICROPYTHON is None:
        pytest.skip(NO_MP)
    return _fw.run_mp(*args, **kw)


@pytest.fixture(scope="session")
def board_build(tmp_path_factory) -> Board:
    if MICROPYTHON is None:
        pytest.skip(NO_MP)
    try:
        return board_heap(mpy_build(tmp_path_factory.mktemp("fw-mpy") / "fw"))
    except FirmwareUnavailable as e:
        pytest.skip(str(e))


@pytest.fixture(params=["port", "board-heap"])
def board(request) -> Board:
    """The firmware as the tests usually run it (sources, the port's heap), then as a board
    would: the compiled build with an ESP32-class heap for its data (BOARD_HEAP_KB)."""
    if MICROPYTHON is None:
        pytest.skip(NO_MP)
    if request.param == "port":
        return Board("port", FIRMWARE, None)
    return request.getfixturevalue("board_build")


@pytest.fixture
def firmware_factory(tmp_path_factory):
    """firmware_factory(config, board=None) -> a started Firmware; all are killed after the test."""
    if MICROPYTHON is None:
        pytest.skip(NO_MP)
    made: list[Firmware] = []

    def make(config: dict, start: bool = True, board: Board | None = None) -> Firmware:
        fw = Firmware(tmp_path_factory.mktemp("gateway"), config,
                      *((board.source, board.heap) if board else ()))
        made.append(fw)
        return fw.start() if start else fw

    yield make
    for fw in made:
        fw.kill()
