"""The central hub: registry, anchoring, carbon-flow tracing, Owen allocation."""
