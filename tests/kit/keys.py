"""Keys generated at test time: producer keys and gateway HMAC keys."""

from __future__ import annotations

import os

import pytest

from edge.chain.keys import PrivateKey, generate_key


@pytest.fixture
def producer_key() -> PrivateKey:
    return generate_key()


@pytest.fixture
def gateway_key() -> bytes:
    return os.urandom(32)
