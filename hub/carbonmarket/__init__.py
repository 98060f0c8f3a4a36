"""The joint PV-electricity and carbon market across two chains (docs/carbon-market.md).

Library entry points, for the command line, the hub's service and the
simulator's whole-system scenarios:

- ``quota``: ``verify_meter_evidence``, ``pvp_quota`` (M = delta x metered PV
  generation, from on-chain telemetry with inclusion proofs and anchors),
  ``cec_position`` and ``traced_bus_intensities`` (emissions through the
  hub's carbon-flow tracer), ``accounting_entry`` (estimate beside verified)
- ``carbonbids``: ``carbon_bids`` (the gateways' carbon bids among edge chain
  leaves, as the book's prices) and ``book_price``
- ``clearing``: ``clear_bilateral`` (CEC surpluses to CEC deficits first,
  then PVP quotas; midpoint price per matched pair)
- ``twotree``: blocks whose root is the node over two RFC 6962 subtrees
  (carbon chain: emission accounting + carbon trades; electricity chain: PV
  trades + cross-chain), their proofs and their verification
- ``peg``: the carbon side C and the electricity side E of the two-way peg,
  ``lightclient`` (SPV header chains), ``oracle`` (signed cross-chain reads
  by > 51 % vote) and ``relayer`` (the untrusted, crash-resumable process);
  ``owner`` (tagged spend/burn requests) and ``pegwire`` (those that came over
  the gateways' wire, read from edge blocks and forwarded to E)
- ``correlation`` and ``prices``: KDE marginals, copula choice by AIC,
  conditional Monte Carlo bid ranges; synthetic paired price series and
  operator CSVs
"""
