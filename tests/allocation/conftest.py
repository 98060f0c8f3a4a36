"""The allocation router in-process (httpx over ASGI), and its bad-input counter."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI

from hub.allocation.api import router
from hub.allocation.schema import BAD_INPUT


@pytest.fixture
def anyio_backend():
    return "asyncio"


@pytest.fixture
def client():
    app = FastAPI()
    app.include_router(router)
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://hub",
                             timeout=60)


def count(field: str) -> float:
    return BAD_INPUT.labels(field=field)._value.get()
