"""Typed refusals, and the one body shape every hub refusal has.

Library code raises these; the hub's route class (hub.service.routing) turns
them into HTTP once and counts them there, so the CLI and the API report the
same reasons. Constructing one counts nothing: a refusal is counted when it
is answered, once.

The body of every refusal of the hub (/v1, /carbon, /allocation, unknown
paths, schema errors, bodies over a limit) is

    {"detail": {"reason": "...", "message": "...", "field": ... , "limit": ..., ...}}

with `field` and `limit` present when a field or a limit is to blame, and
further keys where a refusal has more to say (a block's `height`, the
`accepted` count, a schema error's `errors` list).
"""

from __future__ import annotations

from typing import Any


class HubError(Exception):
    status = 400
    #: HTTP headers the answer carries (e.g. Allow on a 405).
    headers: dict[str, str] | None = None

    def __init__(self, reason: str, message: str, *, status: int | None = None,
                 field: str | None = None, limit: str | None = None, **extra: Any) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message
        if status is not None:
            self.status = status
        self.extra: dict[str, Any] = dict(extra)
        if field is not None:
            self.extra["field"] = field
        if limit is not None:
            self.extra["limit"] = limit

    def detail(self) -> dict[str, Any]:
        return {"reason": self.reason, "message": self.message, **self.extra}


class AuthError(HubError):
    """401: the request is not from a known edge key."""

    status = 401


class ForbiddenError(HubError):
    """403: a known key that may not do this (revoked, or another edge's path)."""

    status = 403


class NotFound(HubError):
    status = 404


class BadBlock(HubError):
    """400: a block that fails verification or leaves a gap."""

    status = 400


class Conflict(HubError):
    """409: equivocation or fork (an alarm has been recorded)."""

    status = 409


class TooLarge(HubError):
    """413: a body or a batch beyond a documented limit (hub.service.limits)."""

    status = 413


class RegistryError(HubError):
    """An operator's registry command that cannot be done."""

    status = 400


class IdentityError(HubError):
    """The hub key does not belong to this database's main chain (or is missing for it)."""

    status = 403
