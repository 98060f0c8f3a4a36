"""Refused inputs of the carbon tracer, each with a reason label for a counter.

A refusal names the field and says what was wrong in one sentence, so the
command line, the API and the tests can show it as it is. The counter is a
Prometheus counter in the default registry because the hub's service exposes
that registry; the tracer itself never serves it.
"""

from __future__ import annotations

from enum import Enum

from prometheus_client import Counter


class Reason(str, Enum):
    """Why an input was refused. The values are the counter labels."""

    UNKNOWN_CASE = "unknown_case"
    BAD_NETWORK = "bad_network"
    BAD_SNAPSHOT = "bad_snapshot"
    BAD_PROFILE = "bad_profile"
    UNKNOWN_ELEMENT = "unknown_element"
    UNSUPPORTED_ELEMENT = "unsupported_element"
    NOT_CONVERGED = "power_flow_not_converged"
    UNBALANCED = "power_balance_broken"
    SINGULAR = "singular_tracing_matrix"
    BAD_REQUEST = "bad_request"  # an API body that failed FastAPI's own validation


REJECTED = Counter(
    "carbon_input_rejected_total",
    "Inputs refused by the carbon-flow tracer, by reason.",
    ["reason"],
)


class CarbonInputError(ValueError):
    """A refused input: `reason` for counters, `field` and `detail` for people.

    Creating one counts nothing: a library may build and catch errors on its way
    (a failed hour of a series is not a refused request). The places that answer
    a refusal count it once with `count`: the API's refusal, the command line's
    error, a series hour marked failed.
    """

    def __init__(self, reason: Reason, detail: str, field: str | None = None) -> None:
        self.reason = reason
        self.field = field
        self.detail = detail
        where = f"{field}: " if field else ""
        super().__init__(f"{where}{detail}")


def count(exc: Exception) -> None:
    """Count one answered refusal under its reason (a CarbonInputError or an OverLimit)."""
    reason = getattr(exc, "reason", Reason.BAD_REQUEST)
    REJECTED.labels(reason=getattr(reason, "value", reason)).inc()


def rejected_count(reason: Reason) -> float:
    """Current value of the counter for one reason (for tests and status pages)."""
    return REJECTED.labels(reason=reason.value)._value.get()
