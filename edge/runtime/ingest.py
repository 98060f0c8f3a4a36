"""MQTT ingest: a paho-mqtt client on TLS with client certificates, and the batch writer.

Why manual acknowledgements: paho normally sends the PUBACK of a QoS 1
message as soon as the callback returns. We ask for ``manual_ack`` and
acknowledge only after the batch holding the message is committed to the
inbox, so a message the broker thinks delivered is always on our disk. With
a persistent session (``clean_session=False`` and a fixed client id) the
broker keeps queueing for us while the edge is down or restarting.

Threads: paho's network thread only enqueues (a ``SimpleQueue``: no lock
taken per message; the packets of one socket read come in one call, see
``mqttread``); one writer thread takes everything queued (up to
``max_batch``), admits, persists it in one transaction, acknowledges the
batch in one socket write and then tells the market and the status page.
One slow or hostile gateway costs the writer a failed check, never a stall:
admission is pure and every rejection is counted and logged with the
gateway id.

Reconnects: paho's own loop reconnects with exponential back-off between
``reconnect_min_s`` and ``reconnect_max_s``; subscriptions are renewed in
``on_connect`` so a broker restart (even one that lost our session) is
survived.
"""

from __future__ import annotations

import logging
import queue
import ssl
import struct
import threading
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple, Protocol

import paho.mqtt.client as mqtt

from edge.clock import SYSTEM, Clock
from edge.protocol import topics
from edge.protocol.errors import Reason
from edge.runtime.admission import Accepted, Policy, Rejected, SeqWindow, admit
from edge.runtime.config import MqttConfig
from edge.runtime.inbox import Inbox, Stored
from edge.runtime.journal import Journal
from edge.runtime.mqttread import MAX_PAYLOAD, ChunkedReader, Publish

log = logging.getLogger("carbon_edge.ingest")


class Incoming(NamedTuple):
    """One received message (a tuple: made once per message on the receiving thread)."""

    topic: str
    payload: bytes
    mid: int
    qos: int
    recv_ms: int
    #: the check process vouched for the payload (``admission.precheck`` passed it there)
    checked: bool = False


class Inbound(Protocol):
    """What the writer takes messages from (``queue.SimpleQueue`` or ``queue.Queue``)."""

    def put(self, item: Incoming) -> None: ...

    def get(self, block: bool = True, timeout: float | None = None) -> Incoming: ...

    def get_nowait(self) -> Incoming: ...

    def empty(self) -> bool: ...


def take(source: Inbound, limit: int) -> list[Incoming]:
    """What ``source`` holds, up to ``limit`` messages, waiting up to 0.1 s for the first
    ([] if none came: the caller looks at its stop flag and asks again). The writer's batch
    and the check process's bunch are taken the same way."""
    try:
        got = [source.get(timeout=0.1)]
    except queue.Empty:
        return []
    while len(got) < limit:
        try:
            got.append(source.get_nowait())
        except queue.Empty:
            break
    return got


class Link(Protocol):
    """The site's message bus as the edge service uses it; injected, so a test can run
    the whole edge without a broker. ``MqttLink`` is the production one."""

    inbound: Inbound
    connected: threading.Event

    def start(self) -> None: ...

    def stop_taking(self) -> None:
        """Take no more messages (unacknowledged ones are redelivered later)."""

    def stop(self) -> None: ...

    def ack(self, batch: Sequence[Incoming]) -> None:
        """Acknowledge these messages (all committed): the broker may forget them."""

    def publish(self, topic: str, payload: bytes, retain: bool) -> None: ...


_new = tuple.__new__  # a NamedTuple's own constructor is a Python call per message

#: An MQTT 3.1.1 PUBACK: type 4, remaining length 2, the message id.
_PUBACK = struct.Struct("!BBH")
_PUBACK_TYPE = 0x40


class MqttLink:
    """The broker connection: subscribe, receive into a queue, publish, acknowledge."""

    def __init__(self, cfg: MqttConfig, site: str,
                 inbound: Inbound | None = None,
                 clock: Clock = SYSTEM, max_payload: int = MAX_PAYLOAD) -> None:
        """``max_payload``: admission's limit; the reader holds no more of a payload than
        that and one byte (``ChunkedReader``)."""
        self.cfg = cfg
        self.clock = clock
        self.site = site
        self.inbound: Inbound = inbound if inbound is not None else queue.SimpleQueue()
        self.connected = threading.Event()
        self.connects = 0
        self.disconnects = 0
        self._leaving = False
        c = ChunkedReader(
            mqtt.CallbackAPIVersion.VERSION2,
            client_id=cfg.client_id,
            clean_session=False,
            manual_ack=True,
            max_payload=max_payload,
        )
        if cfg.tls:
            ctx = ssl.create_default_context(cafile=str(cfg.ca))
            ctx.load_cert_chain(str(cfg.cert), str(cfg.key))
            c.tls_set_context(ctx)
        c.reconnect_delay_set(max(1, int(cfg.reconnect_min_s)), max(1, int(cfg.reconnect_max_s)))
        c.max_inflight_messages_set(1000)
        c.max_queued_messages_set(0)
        c.on_connect = self._on_connect
        c.on_disconnect = self._on_disconnect
        c.on_message = self._on_message
        c.on_publishes = self._on_publishes
        self.client = c

    def _on_connect(self, client: mqtt.Client, _u: Any, _f: Any, rc: Any, _p: Any = None) -> None:
        if rc.is_failure:
            log.warning("broker refused the connection", extra={"reason": str(rc)})
            return
        client.subscribe(topics.gateway_filters(self.site))
        self.connects += 1
        self.connected.set()
        log.info("connected to broker", extra={"host": self.cfg.host, "port": self.cfg.port})

    def _on_disconnect(self, _c: mqtt.Client, _u: Any, _f: Any, rc: Any, _p: Any = None) -> None:
        self.connected.clear()
        if self._leaving:  # our own disconnect at shutdown: nothing to warn about
            log.info("disconnected from broker (edge stopping)")
            return
        self.disconnects += 1
        log.warning("disconnected from broker; paho reconnects with back-off",
                    extra={"reason": str(rc)})

    def _on_message(self, _c: mqtt.Client, _u: Any, msg: mqtt.MQTTMessage) -> None:
        self.inbound.put(Incoming(msg.topic, bytes(msg.payload), msg.mid, msg.qos,
                                  self.clock.wall_ms()))

    def _on_publishes(self, batch: list[Publish]) -> None:
        """The PUBLISH packets of one socket read (``ChunkedReader``), received now."""
        now, put = self.clock.wall_ms(), self.inbound.put
        for topic, payload, mid, qos in batch:
            put(_new(Incoming, (topic, payload, mid, qos, now, False)))

    def start(self) -> None:
        self.client.connect_async(self.cfg.host, self.cfg.port, keepalive=self.cfg.keepalive_s)
        self.client.loop_start()

    def stop_taking(self) -> None:
        self.client.on_publishes = None
        self.client.on_message = None

    def stop(self) -> None:
        self._leaving = True
        self.client.disconnect()
        self.client.loop_stop()

    def ack(self, batch: Sequence[Incoming]) -> None:
        """The batch's PUBACKs as one packet queue entry: one socket write for all of them.

        paho has no public call for that (``Client.ack`` queues one packet and wakes
        the network thread once per message); ``_packet_queue`` is what ``ack`` itself
        calls. tests/edge/test_mqtt_link.py checks with a real broker that acknowledged
        messages are not redelivered and unacknowledged ones are.
        """
        data = b"".join([_PUBACK.pack(_PUBACK_TYPE, 2, m.mid) for m in batch if m.qos == 1])
        if data:
            self.client._packet_queue(_PUBACK_TYPE, data, 0, 0)
        for m in batch:
            if m.qos == 2:  # never subscribed at QoS 2; acknowledged the paho way if it comes
                self.client.ack(m.mid, m.qos)

    def publish(self, topic: str, payload: bytes, retain: bool) -> None:
        self.client.publish(topic, payload, qos=topics.QOS, retain=retain)


@dataclass
class BatchOutcome:
    accepted: list[Accepted]
    rejected: list[tuple[Incoming, Rejected]]
    latencies_ms: list[int]


class Admitter:
    """Admission with the state it needs: keys, policy and the live sequence windows."""

    def __init__(self, site: str, keys: dict[str, bytes], policy: Policy,
                 windows: dict[tuple[str, str], SeqWindow],
                 clock: Clock,
                 market_refusal: Callable[[dict[str, Any], float], str | None] | None = None,
                 journal: Journal | None = None) -> None:
        self.site = site
        self.keys = keys
        self.policy = policy
        self.windows = windows
        self.clock = clock
        self.market_refusal = market_refusal
        self.journal = journal

    def decide(self, m: Incoming, now_ms: int,
               windows: Mapping[tuple[str, str], SeqWindow]) -> Accepted | Rejected:
        """Admission, then (for a bid) the market's own refusal."""
        verdict = admit(m.topic, m.payload, now_ms, self.site, self.keys, windows, self.policy,
                        m.checked)
        if isinstance(verdict, Accepted) and verdict.type == "bid" and self.market_refusal:
            why = self.market_refusal(verdict.raw, now_ms / 1000)
            if why is not None:
                verdict = Rejected(why, verdict.gw, f"bid for interval "
                                   f"{verdict.raw['interval']} round "
                                   f"{verdict.raw.get('round', 0)}: {why}", "interval")
        return verdict

    def process(self, batch: Sequence[Incoming], inbox: Inbox,
                on_accepted: Callable[[list[Accepted]], None] | None = None) -> BatchOutcome:
        """Admit, persist and count one batch (the caller acknowledges afterwards)."""
        tentative: dict[tuple[str, str], SeqWindow] = {}
        stored: list[Stored] = []
        rejected: list[tuple[Incoming, Rejected]] = []
        counts: Counter[str] = Counter()
        now = self.clock.now_ms()
        view = _Overlay(self.windows, tentative)
        for m in batch:
            try:
                verdict = self.decide(m, now, view)
            except Exception as exc:  # noqa: BLE001 - one message costs only itself
                log.exception("admission failed on one message", extra={"topic": m.topic})
                verdict = Rejected(Reason.ADMISSION_FAILED.value, None,
                                   f"{type(exc).__name__}: {str(exc)[:200]}")
            if isinstance(verdict, Rejected):
                rejected.append((m, verdict))
                counts[f"rejected:{verdict.reason}"] += 1
                continue
            tentative[(verdict.gw, verdict.space)] = verdict.window
            stored.append(_new(Stored, (verdict, m.payload, m.recv_ms)))
            if verdict.gap is not None:
                counts["gaps"] += 1
                counts["gap_messages"] += verdict.gap[1] - verdict.gap[0] + 1
        for kind, n in Counter([s.acc.type for s in stored]).items():
            counts[f"accepted:{kind}"] += n
        wall = self.clock.wall_ms()  # pending ages are wall time (block trigger, block ts)
        fresh = (inbox.messages.commit_batch(stored, counts, now_ms=wall)
                 if (stored or counts) else [])
        if self.journal is not None and stored:  # replay input, in commit order
            self.journal.batch(now, wall, stored)
        self.windows.update(tentative)
        accepted = [s.acc for s, new in zip(stored, fresh, strict=True) if new]
        if on_accepted is not None and accepted:
            on_accepted(accepted)
        done = self.clock.wall_ms()
        for m, r in rejected:
            log.info("message rejected", extra={"gw": r.gw, "reason": r.reason,
                                                "field": r.field, "detail": r.detail,
                                                "topic": m.topic})
        return BatchOutcome(accepted, rejected, [done - s.recv_ms for s in stored])


class _Overlay(dict):
    """Read view of committed windows with this batch's tentative ones on top."""

    def __init__(self, base: dict[tuple[str, str], SeqWindow],
                 top: dict[tuple[str, str], SeqWindow]) -> None:
        super().__init__()
        self.base, self.top = base, top

    def get(self, key: Any, default: Any = None) -> Any:
        if key in self.top:
            return self.top[key]
        return self.base.get(key, default)


@dataclass(frozen=True)
class Stall:
    """The inbox refused a batch (disk stall, lock timeout, full disk): ingest is waiting."""

    since_ms: int
    retries: int
    error: str


class Writer(threading.Thread):
    """Drains the inbound queue in batches: admit, persist, acknowledge, notify.

    A batch that cannot be written (the disk stalls longer than SQLite's busy
    timeout, the disk is full) is retried with exponential back-off until it
    is written, never dropped and never acknowledged before: the broker keeps
    the messages, and ``stall`` (status page, metrics) says ingest waits.
    """

    def __init__(self, inbound: Inbound, admitter: Admitter, inbox: Inbox,
                 ack: Callable[[Sequence[Incoming]], None],
                 on_accepted: Callable[[list[Accepted]], None] | None = None,
                 on_outcome: Callable[[BatchOutcome], None] | None = None,
                 lock: Any = None, max_batch: int = 2000,
                 retry_min_s: float = 0.05, retry_max_s: float = 5.0) -> None:
        super().__init__(name="ingest-writer", daemon=True)
        self.inbound = inbound
        self.admitter = admitter
        self.inbox = inbox
        self.ack = ack
        self.on_accepted = on_accepted
        self.on_outcome = on_outcome
        self.lock = lock if lock is not None else threading.RLock()
        self.max_batch = max_batch
        self.retry_min_s = retry_min_s
        self.retry_max_s = retry_max_s
        self.stopping = threading.Event()
        self.failures = 0
        self.stall: Stall | None = None

    def run(self) -> None:
        while not (self.stopping.is_set() and self.inbound.empty()):
            batch = take(self.inbound, self.max_batch)
            if not batch:
                continue
            outcome = self._write(batch)
            if outcome is None:  # stopping while stalled: the broker redelivers
                return
            self.ack(batch)
            if self.on_outcome is not None:
                self.on_outcome(outcome)

    def _write(self, batch: list[Incoming]) -> BatchOutcome | None:
        """Persist one batch, retrying with back-off until it is on disk (None: stopped)."""
        delay = self.retry_min_s
        while True:
            try:
                with self.lock:  # the market must not clear between a bid's check and commit
                    outcome = self.admitter.process(batch, self.inbox, self.on_accepted)
            except Exception as exc:  # noqa: BLE001 - a disk error must not kill ingest
                self.failures += 1
                since = self.stall.since_ms if self.stall else self.admitter.clock.wall_ms()
                retries = self.stall.retries + 1 if self.stall else 1
                self.stall = Stall(since, retries, f"{type(exc).__name__}: {str(exc)[:200]}")
                if retries == 1:
                    log.exception("batch not persisted; retrying, messages stay unacknowledged")
                if self.stopping.wait(delay):
                    return None
                delay = min(delay * 2, self.retry_max_s)
                continue
            if self.stall is not None:
                log.warning("inbox writable again", extra={"retries": self.stall.retries,
                                                            "since_ms": self.stall.since_ms})
                self.stall = None
            return outcome

    def stop(self) -> None:
        self.stopping.set()
