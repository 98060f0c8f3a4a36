"""Consensus-node bookkeeping of the main chain: validator scoring (EA-DPoS)."""
