"""Refusals of the carbon market: one reason code per kind, each counted.

Every bad input raises ``Refused`` with a stable reason (what a counter is
keyed by) and one sentence that says what was wrong; nothing already
accepted is changed by a refused request.
"""

from __future__ import annotations

from collections import Counter
from enum import Enum


class Reason(str, Enum):
    # quotas and positions
    BAD_EVIDENCE = "bad_evidence"
    CONFLICTING_READING = "conflicting_reading"
    # the peg (each of the refusals the design names)
    REPLAYED_PROOF = "replayed_proof"
    UNKNOWN_HEADER = "unknown_header"
    FORKED_HEADER = "forked_header"
    UNANCHORED_HEADER = "unanchored_header"
    BAD_PROOF = "bad_proof"
    MINT_WITHOUT_LOCK = "mint_without_lock"
    SECOND_MINT = "second_mint"
    BURN_OVER_OUTSTANDING = "burn_over_outstanding"
    SPEND_OVER_OUTSTANDING = "spend_over_outstanding"
    UNLOCK_WITHOUT_BURN = "unlock_without_burn"
    ORACLE_UNSIGNED = "oracle_unsigned"
    ORACLE_MINORITY = "oracle_minority"
    ORACLE_NO_QUORUM = "oracle_no_quorum"
    # spends and burns on E: only the minted balance's owner, authenticated like a gateway
    PEG_UNSIGNED = "peg_unsigned"
    PEG_NOT_OWNER = "peg_not_owner"
    PEG_REPLAYED_REQUEST = "peg_replayed_request"
    BAD_REQUEST = "bad_request"


class Refused(ValueError):
    """A request refused for ``reason``; ``message`` is one sentence for people."""

    def __init__(self, reason: Reason, message: str) -> None:
        super().__init__(f"{reason.value}: {message}")
        self.reason = reason
        self.message = message


class Refusals:
    """Counters of refusals by reason, so an operator can see what was turned away."""

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()

    def refuse(self, reason: Reason, message: str) -> Refused:
        """Count the refusal and return the exception for the caller to raise."""
        self.counts[reason.value] += 1
        return Refused(reason, message)

    def __getitem__(self, reason: Reason) -> int:
        return self.counts[reason.value]
