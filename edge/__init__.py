"""The edge hub: wire protocol, chain, market, PL drivers and the runtime.

Runs on the PYNQ image (Python 3.10, 32-bit Arm); keep imports lean.
"""
