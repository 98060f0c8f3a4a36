"""The central hub service: edge registry, block ingest, main chain, receipts, prices.

The hub verifies edge blocks with the edge's own code (edge.chain.verify) so
that the two ends can never disagree on what a valid block is.
"""
