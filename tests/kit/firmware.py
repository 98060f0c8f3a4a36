"""The gateway firmware on the real MicroPython unix port: pytest fixtures over simulator.firmware.

simulator/firmware.py runs the firmware (`run_mp(code)` with the firmware's
modules importable, `Firmware` for a whole gateway process with its JSON log,
`gateway_config(...)`, `sign_downlink(msg)` with the fixed test edge key that
`gateway_config` provisions, the compiled build and the board-sized heap);
`result_frame(msg)` makes a result's payload as the edge publishes it (its
signed header line and the fills block, by the edge's own encoder);
here the fixtures: `firmware_factory(config, board=None)` starts gateways in
fresh directories and kills them after the test, `board` runs a test once on
the sources with the port's heap and once on the compiled build with an
ESP32-class heap. A missing port or mpy-cross skips the test.
"""

from __future__ import annotations

from typing import Any

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


def fills_block(rows: list[dict[str, Any]]) -> bytes:
    """The fills block of decoded rows, by the edge's reference encoder (edge.protocol.fills):
    the firmware's decoder is checked against an implementation that is not its own."""
    from edge.protocol import fills as F

    cols = [[f[k] for f in rows] for k in ("seq", "price", "order_wh", "qty_wh")]
    return F.encode(*cols, [F.SIDES.index(f["side"]) for f in rows],
                    [F.STATUSES.index(f["status"]) for f in rows], [f["gw"] for f in rows])


def result_header(msg: dict[str, Any], block: bytes, **over: Any) -> dict[str, Any]:
    """The unsigned header of result `msg` for `block`: `msg` without its fills, with
    `fills_n` (the rows of `msg`) and `fills_sha256` (of `block`); `over` replaces members."""
    import hashlib

    head = {k: v for k, v in msg.items() if k != "fills"}
    head.update(fills_n=len(msg.get("fills", ())), fills_sha256=hashlib.sha256(block).hexdigest())
    head.update(over)
    return head


def frame_of(signed_header: dict[str, Any], block: bytes) -> bytes:
    """The result topic's payload: the header's canonical JSON, a newline, the block."""
    from edge.protocol import fills as F
    from edge.protocol.canonical import canonical

    return F.frame(canonical(signed_header), block)


def result_frame(msg: dict[str, Any], seed: bytes = TEST_EDGE_SEED, block: bytes | None = None,
                 **over: Any) -> bytes:
    """Result `msg` (its `fills` as decoded rows) framed and signed as the edge publishes it.

    `block` replaces the encoded rows (a bad block, which the header then commits to
    unless `over` says otherwise); `over` replaces header members before signing.
    """
    if block is None:
        block = fills_block(msg.get("fills", []))
    return frame_of(sign_downlink(result_header(msg, block, **over), seed), block)


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
