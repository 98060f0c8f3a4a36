"""The edge's side of the hub sync contract (docs/hub.md).

`SyncClient` pushes the chain to the central hub and pulls receipts and
price signals; `signing` signs requests; `receipts` checks anchor receipts
offline. The hub imports `signing` and `receipts` too, so both ends agree by
construction.
"""

from edge.sync.client import HubRefused, HubUnavailable, SyncClient, SyncError
from edge.sync.receipts import check_receipt

__all__ = ["HubRefused", "HubUnavailable", "SyncClient", "SyncError", "check_receipt"]
