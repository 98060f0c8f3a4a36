"""A Dask client for the hub's embarrassingly parallel work (carbon series, sampled Owen).

``--workers N`` starts a local cluster of N single-threaded worker processes
(numpy, SuperLU and pandapower hold the GIL for much of their work, so
processes, not threads); ``--scheduler ADDR`` connects to an existing
scheduler (e.g. ``tcp://10.0.0.5:8786``), whose workers must have this
package installed. Without either, callers run serially in-process. Every
caller splits its work into tasks whose results do not depend on where or in
which order they ran, and combines them in a fixed order, so a cluster gives
bit-identical results to the serial run.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


@contextmanager
def dask_client(workers: int = 0, scheduler: str | None = None) -> Iterator[Any]:
    """Yield a ``distributed.Client`` (or None for serial work) and close what it started."""
    if workers and scheduler:
        raise ValueError("give either workers or scheduler, not both")
    if workers < 0:
        raise ValueError(f"workers: must be >= 0, got {workers}")
    if not workers and not scheduler:
        yield None
        return
    from distributed import Client, LocalCluster

    if scheduler:
        with Client(scheduler) as client:
            yield client
        return
    with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                      dashboard_address=None) as cluster, Client(cluster) as client:
        yield client


def worker_count(client: Any) -> int:
    """How many workers a client has (1 for serial work)."""
    if client is None:
        return 1
    return max(1, len(client.scheduler_info().get("workers", {})))


def cluster_args(p: argparse.ArgumentParser) -> None:
    """``--workers N`` / ``--scheduler ADDR``: run on a Dask cluster (hub.cluster)."""
    g = p.add_mutually_exclusive_group()
    g.add_argument("--workers", type=int, default=0, metavar="N",
                   help="start a local Dask cluster of N worker processes")
    g.add_argument("--scheduler", default=None, metavar="ADDR",
                   help="use an existing Dask scheduler, e.g. tcp://host:8786")
