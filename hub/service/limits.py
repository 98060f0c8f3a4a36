"""Bounded request bodies for the hub's compute routers (/allocation, /carbon).

Starlette 1.x has a body-size middleware (FastAPI's ``max_body_size``), but its
413 is a bare "Content Too Large" sent before the route runs: it names no
limit and no counter sees it. The routers call ``read_body_within`` from their
route class instead, so their 413 names the limit and is counted like every
other refusal. The body is read once, chunk by chunk, and stops at the limit:
a lying or absent Content-Length cannot make the hub buffer more than that.
"""

from __future__ import annotations

from starlette.requests import Request


async def read_body_within(request: Request, limit: int) -> int | None:
    """Read the body into ``request`` if it has at most ``limit`` bytes; else its size so far.

    Returns None when the body was read (FastAPI then finds it cached on the
    request), or the byte count that broke the limit: the declared
    Content-Length when it already says too much, otherwise what was read
    before giving up.
    """
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        return int(declared)
    size = 0
    chunks: list[bytes] = []
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            return size
        chunks.append(chunk)
    request._body = b"".join(chunks)  # what Request.body() caches; FastAPI reads it from there
    return None
