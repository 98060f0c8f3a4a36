"""Rejections carry a reason code so ingest can count them by kind."""

from __future__ import annotations

from enum import Enum


class Reason(str, Enum):
    """Why a message was refused. The values are the counter labels."""

    OVERSIZE = "oversize"
    MALFORMED = "malformed"  # not JSON, or not UTF-8
    NOT_OBJECT = "not_object"
    DUPLICATE_KEY = "duplicate_key"
    FLOAT = "float_not_allowed"
    NULL = "null_not_allowed"
    UNKNOWN_TYPE = "unknown_type"
    BAD_VERSION = "bad_version"
    UNKNOWN_FIELD = "unknown_field"
    MISSING_FIELD = "missing_field"
    WRONG_TYPE = "wrong_type"
    OUT_OF_RANGE = "out_of_range"
    BAD_FORMAT = "bad_format"
    BAD_TAG = "bad_tag"
    BAD_SIGNATURE = "bad_signature"
    # Decided by the receiver's state rather than by the bytes alone.
    UNKNOWN_SENDER = "unknown_sender"
    TOPIC_MISMATCH = "topic_mismatch"
    REPLAY = "replay"
    DUPLICATE = "duplicate"
    STALE = "stale_timestamp"
    FUTURE = "future_timestamp"
    # The receiver failed on this message (a bug or exhausted memory): refused alone.
    ADMISSION_FAILED = "admission_failed"


class ProtocolError(ValueError):
    """A refused message: `reason` for counters, `field` and `detail` for people."""

    def __init__(self, reason: Reason, detail: str, field: str | None = None) -> None:
        self.reason = reason
        self.field = field
        self.detail = detail
        where = f" at {field}" if field else ""
        super().__init__(f"{reason.value}{where}: {detail}")
