"""The hub's /v1 API as FastAPI routers, one per concept (mounted by hub.service.app)."""
