"""The programmable logic (PL) of the edge hub: SHA-256 and clearing kernels.

Three back ends share one interface (see docs/pl.md):
``cpu`` (hashlib and edge.market.clearing), ``sim`` (the hls/ C++ compiled
with g++ behind a simulated MMIO and DDR) and ``pynq`` (the real overlay).
``edge.pl.dispatch.Dispatcher`` picks one by batch size.
"""
