"""The edge's Prometheus metrics, in one registry served at /metrics."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Gauge, Histogram
from prometheus_client import Counter as PCounter


class Metrics:
    def __init__(self) -> None:
        r = self.registry = CollectorRegistry()
        self.accepted = PCounter("carbon_edge_messages_accepted", "Messages persisted, by type",
                                 ["type"], registry=r)
        self.rejected = PCounter("carbon_edge_messages_rejected", "Messages refused, by reason",
                                 ["reason"], registry=r)
        self.latency = Histogram("carbon_edge_ingest_latency_seconds",
                                 "Receipt from the broker to committed in the inbox",
                                 buckets=(.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5),
                                 registry=r)
        self.height = Gauge("carbon_edge_chain_height", "Height of the edge chain", registry=r)
        self.pending = Gauge("carbon_edge_pending_txs", "Transactions waiting for a block",
                             registry=r)
        self.rounds = PCounter("carbon_edge_market_rounds", "Clearing rounds published",
                               registry=r)
        self.connected = Gauge("carbon_edge_broker_connected", "1 while connected to the broker",
                               registry=r)
        self.acked = Gauge("carbon_edge_sync_acked_height", "Height the hub acknowledged",
                           registry=r)
        self.stalled = Gauge("carbon_edge_ingest_stalled",
                             "1 while the inbox refuses writes and ingest retries", registry=r)
        self.write_failures = Gauge("carbon_edge_ingest_write_failures",
                                    "Batch writes the inbox refused since start (each retried)",
                                    registry=r)
        self.pruned = PCounter("carbon_edge_inbox_pruned",
                               "Raw messages dropped once on the chain and anchored", registry=r)
