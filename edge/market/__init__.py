"""The local market: order book, clearing rules, iterative rounds, sealed bids, settlement.

Pure functions and plain data; no I/O here (the command line is in cli.py).
"""
