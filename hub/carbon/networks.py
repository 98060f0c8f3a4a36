"""Where networks come from: pandapower's built-in cases or pandapower JSON.

A user network is pandapower's own JSON (``pandapower.to_json``), because it
already carries every element type and its parameters with a documented,
versioned schema; a home-made format would be a second, poorer copy of it.
"""

from __future__ import annotations

import re
import warnings
from functools import lru_cache

import pandapower as pp
import pandapower.networks as pn
import pandas as pd

from hub.carbon.errors import CarbonInputError, Reason

_CASE_NAME = re.compile(r"^case[0-9a-z_]+$")


@lru_cache(maxsize=1)
def builtin_cases() -> tuple[str, ...]:
    """Names of pandapower's built-in power-flow cases (``case33bw``, ``case9241pegase``...)."""
    return tuple(n for n in dir(pn) if _CASE_NAME.match(n) and callable(getattr(pn, n)))


def load_case(name: str) -> pp.pandapowerNet:
    """A fresh copy of a built-in case; every call builds a new net the caller may change."""
    if not isinstance(name, str) or name not in builtin_cases():
        shown = ", ".join(builtin_cases()[:12])
        raise CarbonInputError(
            Reason.UNKNOWN_CASE,
            f"{name!r} is not a pandapower built-in case; try one of {shown}, ...",
            "case",
        )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return getattr(pn, name)()


def load_network_json(text: str) -> pp.pandapowerNet:
    """A network from pandapower's JSON text (the output of ``pandapower.to_json``)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            net = pp.from_json_string(text)
    except Exception as exc:  # pandapower raises many kinds; all mean "not a network"
        raise CarbonInputError(
            Reason.BAD_NETWORK,
            f"not a pandapower network in JSON ({type(exc).__name__}: {exc})",
            "network",
        ) from None
    bus = net.get("bus") if isinstance(net, pp.pandapowerNet) else None
    if not isinstance(bus, pd.DataFrame) or len(bus) == 0:
        raise CarbonInputError(
            Reason.BAD_NETWORK, "not a pandapower network in JSON (it has no bus table)", "network"
        )
    return net


def network_to_json(net: pp.pandapowerNet) -> str:
    """pandapower JSON text of a network (what ``load_network_json`` reads back)."""
    return pp.to_json(net)
