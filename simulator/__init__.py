"""Everything left of the edge hub, and the PL, for boardless runs."""
