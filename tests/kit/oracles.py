"""Carbon-market oracles as real processes (simulator.oracleproc): started, stopped after.

`oracle_factory(workdir, requesters, chains)` starts `carbon-edge carbon-market
oracle-serve` on a free loopback port and returns its OracleProcess (url,
id, status()); every oracle a test started is stopped after it.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from simulator.oracleproc import OracleProcess


@pytest.fixture
def oracle_factory() -> Iterator:
    made: list[OracleProcess] = []

    def make(workdir, requesters, chains, start: bool = True) -> OracleProcess:
        o = OracleProcess(workdir, requesters, chains)
        made.append(o)
        return o.start() if start else o

    yield make
    for o in made:
        o.stop()
