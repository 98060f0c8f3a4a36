"""The signed local chain: keys, RFC 6962 Merkle trees, blocks, store, verify."""
