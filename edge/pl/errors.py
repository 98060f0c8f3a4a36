"""Errors of the PL back ends and the counter every refusal increments."""

from __future__ import annotations

from prometheus_client import Counter


class PlError(RuntimeError):
    """Base class: something the PL back end refused or could not do."""


class PlUnavailable(PlError):
    """A back end cannot run here (no pynq, no compiler, no bitstream)."""


class PlBufferError(PlError, ValueError):
    """A buffer of the wrong size or alignment, refused before the PL is started."""


class PlBusyError(PlError):
    """A start while the kernel is still running (ap_idle low), refused."""


class PlTimeoutError(PlError, TimeoutError):
    """ap_done did not come within the timeout."""


class PlKernelError(PlError, ValueError):
    """The kernel itself reported bad input in its result header."""


#: Every refusal by a PL driver, by kernel and reason ("buffer", "busy", "timeout", "input").
REFUSED = Counter(
    "carbon_edge_pl_refused_total",
    "PL driver refusals and failures",
    ["kernel", "reason"],
)


def refuse(exc_type: type[PlError], kernel: str, reason: str, message: str) -> PlError:
    """Count the refusal and build the exception to raise."""
    REFUSED.labels(kernel=kernel, reason=reason).inc()
    return exc_type(f"{kernel}: {message}")
