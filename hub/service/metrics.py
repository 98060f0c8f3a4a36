"""The hub's Prometheus counters, in the process's default registry.

One set per process: the compute routers' own counters live in the same
registry, so GET /metrics is `generate_latest()` of it and nothing else.
"""

from __future__ import annotations

from prometheus_client import Counter

REFUSED = Counter("hub_refused_total", "Requests refused, by reason (every route of the hub)",
                  ["reason"])
ACCEPTED = Counter("hub_blocks_accepted_total", "Edge blocks stored")
DUPLICATES = Counter("hub_blocks_duplicate_total", "Edge blocks offered again")
ALARMS = Counter("hub_alarms_total", "Equivocation and fork alarms", ["kind"])
MAIN_BLOCKS = Counter("hub_main_blocks_total", "Main-chain blocks made")
