"""The hub's market-period pipeline: the allocation loop on the main chain.

Each market period the hub collects the regions' reports (the bids the edges
pushed in their blocks), builds the carbon allocation game, computes the
Owen allocation, the ladder costs and the price adders, clears the revised
quotations, records all of it as one main-chain block, and publishes a signed
price signal per site (docs/hub.md, "The allocation loop"). Each epoch it
also records the validator scoring inputs and the chosen supervisors.

Modules: ``records`` (the main-chain transactions), ``reports`` (regional
reports from edge bids), ``pipeline`` (the pure computation), ``trace`` (the
optional carbon-flow trace), ``supervisors`` (validator scoring per epoch),
``store`` (database and main-chain I/O).
"""
