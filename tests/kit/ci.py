"""Under CI (CI=true) a skipped test is a failed test, unless the machine truly cannot run it.

Tests skip, with the reason, when a tool is missing (Mosquitto, PostgreSQL,
the MicroPython unix port, g++, Python 3.10 ...), which keeps a laptop
usable. In CI that same skip would hide a whole layer of the suite, so
.ci/run installs and starts every tool this machine can have, and this
hook turns any skip that remains into a failure naming the reason. Only
reasons listed in ALLOWED (hardware and proprietary tools a CI runner
cannot have) or in the CI_ALLOWED_SKIPS environment variable
(comma-separated substrings) stay skips.
"""

from __future__ import annotations

import os

import pytest

#: what no CI runner has: the board, its serial ports, Xilinx's tools
ALLOWED = ("pynq board", "vitis_hls", "vivado", "/dev/tty", "needs the board")


def strict() -> bool:
    return os.environ.get("CI", "").lower() in ("true", "1", "yes")


def allowed(reason: str) -> bool:
    extra = [s.strip() for s in os.environ.get("CI_ALLOWED_SKIPS", "").split(",") if s.strip()]
    return any(s.lower() in reason.lower() for s in (*ALLOWED, *extra))


def skip_reason(report: pytest.TestReport) -> str:
    lr = report.longrepr
    reason = str(lr[2]) if isinstance(lr, tuple) and len(lr) == 3 else str(lr)
    return reason.removeprefix("Skipped: ")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if not (strict() and report.skipped) or hasattr(report, "wasxfail"):
        return
    reason = skip_reason(report)
    if allowed(reason):
        return
    report.outcome = "failed"
    report.longrepr = (f"skipped under CI=true: {reason}\n(.ci/run installs and starts what "
                       "the tests need; add a reason to CI_ALLOWED_SKIPS only for what this "
                       "machine cannot have)")
