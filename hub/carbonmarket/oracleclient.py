"""Asking the oracles over HTTP: the ``ask`` a peg side uses when oracles are processes.

``HttpOracles(urls)`` is a callable ``request -> answers``: it POSTs the
signed request to every oracle at once and returns what came back as JSON
objects, in the order of ``urls``. Whether an answer counts is the tally's
business (hub.carbonmarket.oracle.tally: signature, request hash, vote), so
a forged or outvoted answer is returned like any other and refused there.
An oracle that does not answer (down, slow, an HTTP error, not a JSON
object) is silence, never a vote; it is counted in ``failures`` by kind so
an operator sees which oracle is missing.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx

MAX_ORACLES = 64


class HttpOracles:
    def __init__(self, urls: Sequence[str], timeout_s: float = 5.0) -> None:
        if not 1 <= len(urls) <= MAX_ORACLES:
            raise ValueError(f"give 1..{MAX_ORACLES} oracle URLs")
        self.urls = [u.rstrip("/") for u in urls]
        self.timeout_s = timeout_s
        self.failures: Counter[str] = Counter()

    def _one(self, url: str, request: dict[str, Any]) -> Any:
        try:
            r = httpx.post(url + "/v1/answer", json=request, timeout=self.timeout_s)
        except httpx.HTTPError:
            self.failures["unreachable"] += 1
            return None
        if r.status_code != 200:
            self.failures["refused" if r.status_code == 400 else "http_error"] += 1
            return None
        try:
            doc = r.json()
        except ValueError:
            doc = None
        if not isinstance(doc, dict):
            self.failures["bad_reply"] += 1
            return None
        return doc

    def __call__(self, request: dict[str, Any]) -> list[Any]:
        with ThreadPoolExecutor(max_workers=len(self.urls)) as pool:
            got = list(pool.map(lambda u: self._one(u, request), self.urls))
        return [a for a in got if a is not None]
