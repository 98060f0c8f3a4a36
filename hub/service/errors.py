"""Typed refusals that the API turns into status codes with a reason.

Library code raises these; app.py maps them to HTTP once, so the CLI and
the API report the same reasons.
"""

from __future__ import annotations

from typing import Any


class HubError(Exception):
    status = 400

    def __init__(self, reason: str, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message
        self.extra = extra

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


class RegistryError(HubError):
    """An operator's registry command that cannot be done."""

    status = 400
