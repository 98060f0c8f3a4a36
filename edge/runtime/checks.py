"""Admission's payload checks in a second process, ahead of the ingest writer.

Why: the edge is one Python process, so it runs on one core at a time. In
the 20 x 2,000 rate case its ingest writer spent about 60% of its time in
``admission.precheck`` (the JSON scan, the schema, the canonical form, the
HMAC): a pure function of the topic, the payload and the gateway keys, with
no clock and no state (docs/edge.md, "Where ingest time goes"). The
``Checker`` thread takes what the link received, sends it in bunches to a
worker process that runs ``precheck`` over each message, and hands every
message on to the writer with the answer (``Incoming.checked``: yes or no).
The writer then parses a vouched-for payload again (``codec.decode_vouched``,
a plain parse: cheaper than sending the parsed message back, which is
unpickled at about three times its cost) and does only what needs the clock
and the state: the time and sequence windows, the market's refusal, the
commit, the acknowledgement; those stay in one process, in one order.

What it does not change: the decisions (``admit`` with a ``checked`` answer
decides exactly as without: tests/edge/test_checks.py), the order of the
messages (one worker, answers in order), the acknowledgement after the
commit, replay (the journal holds the payloads; replay admits them inline).
A message that breaks the check costs only itself: its answer is None and
the writer admits it in full. A worker that dies or stops answering costs
time only: its bunch and everything after it go on unchecked, and the writer
does the whole admission as before (logged once). ``[admission]
check_process = false`` keeps everything in one process (a one-core board).
"""

from __future__ import annotations

import logging
import multiprocessing
import pickle
import queue
import select
import threading
from collections.abc import Mapping
from multiprocessing.connection import Connection
from typing import Any

from edge.runtime.ingest import Inbound, Incoming, take

log = logging.getLogger("carbon_edge.ingest")

#: messages sent to the worker at once at most (a bunch is answered in a few ms)
BUNCH = 500
#: seconds to wait for an answer before the worker is given up
ANSWER_S = 30.0

_new = tuple.__new__


def serve(conn: Connection, site: str, keys: Mapping[str, bytes], max_payload: int) -> None:
    """The worker process: answer every bunch of (topic, payload) with whether ``precheck``
    passed each (False for an item that is None: a payload over ``max_payload``, not sent).

    It ends when the edge closes the pipe (or dies); Ctrl-C in the edge's terminal reaches
    the whole process group, and the edge's own shutdown ends the worker after the writer
    has what it handed on, so the worker ignores SIGINT.
    """
    import signal

    from edge.runtime import gcpolicy
    from edge.runtime.admission import precheck

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    gcpolicy.settle()

    while True:
        try:
            items = pickle.loads(conn.recv_bytes())
        except (EOFError, OSError):
            return
        out: list[bool] = []
        for item in items:
            try:
                out.append(item is not None and precheck(*item, site, keys, max_payload))
            except Exception:  # noqa: BLE001 - one message costs only itself: admitted in full
                out.append(False)
        conn.send_bytes(pickle.dumps(out, pickle.HIGHEST_PROTOCOL))


class Checker(threading.Thread):
    """Between the link and the writer: ``source`` in, ``out`` (checked) to the writer."""

    def __init__(self, source: Inbound, site: str, keys: Mapping[str, bytes],
                 max_payload: int) -> None:
        super().__init__(name="ingest-checks", daemon=True)
        self.source = source
        self.out: queue.SimpleQueue[Incoming] = queue.SimpleQueue()
        self._args = (site, dict(keys), max_payload)
        self.max_payload = max_payload
        self._conn: Connection | None = None
        self._proc: Any = None
        self.stopping = threading.Event()
        #: the worker was given up: everything is admitted in the writer
        self.failed = False

    def start(self) -> None:
        ctx = multiprocessing.get_context("spawn")
        self._conn, child = ctx.Pipe()
        self._proc = ctx.Process(target=serve, args=(child, *self._args), daemon=True,
                                 name="edge-checks")
        self._proc.start()
        child.close()
        super().start()

    def run(self) -> None:
        while not (self.stopping.is_set() and self.source.empty()):
            bunch = take(self.source, BUNCH)
            if not bunch:
                continue
            put = self.out.put
            for m, answer in zip(bunch, self._ask(bunch), strict=True):
                # tuple.__new__: a NamedTuple's own constructor costs a Python call per message
                put(_new(Incoming, (*m[:5], True)) if answer else m)

    def _ask(self, bunch: list[Incoming]) -> list[bool]:
        if not self.failed and self._conn is not None:
            try:
                # a payload precheck refuses for its size alone is not copied into the pipe
                # (a hostile one may be as large as the broker lets through): None stands for it
                limit = self.max_payload
                self._conn.send_bytes(pickle.dumps(
                    [(m.topic, m.payload) if len(m.payload) <= limit else None for m in bunch],
                    pickle.HIGHEST_PROTOCOL))
                # select on the pipe itself: Connection.poll builds a selector per call
                if select.select([self._conn.fileno()], [], [], ANSWER_S)[0]:
                    answers = pickle.loads(self._conn.recv_bytes())
                    if type(answers) is list and len(answers) == len(bunch) \
                            and all(type(a) is bool for a in answers):
                        return answers
            except (EOFError, OSError, pickle.UnpicklingError):
                pass
            self.failed = True
            log.error("the check process stopped answering: the writer admits in full")
            self._end_worker()
        return [False] * len(bunch)

    def _end_worker(self) -> None:
        if self._conn is not None:
            self._conn.close()
        if self._proc is not None and self._proc.is_alive():
            self._proc.terminate()
            self._proc.join(5)

    def stop(self) -> None:
        """Hand on what was taken (the link takes nothing more by now), then end the worker."""
        self.stopping.set()
        if self.is_alive():
            self.join(10)
        self._end_worker()
