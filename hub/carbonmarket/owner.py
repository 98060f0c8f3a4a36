"""An owner's request to spend or burn a minted balance on E, tagged like a gateway message.

The minted asset belongs to the trade's seller, a gateway. Only that gateway
may spend it on its electricity bill or burn it back to C, and it proves who
it is exactly as it does to its edge (edge/protocol/auth.py): an HMAC-SHA256
``tag`` over the canonical request without ``tag``, with its 32-byte
provisioned key; the firmware's messages.seal makes the same bytes.

    {"v": 1, "type": "peg_spend", "gw": "pvp-6", "seq": 12, "ts": 1767225600000,
     "transfer": "c1-0", "amount_micro": 2500, "bill": "bill-2026-11", "tag": "<64 hex>"}
    {"v": 1, "type": "peg_burn", "gw": "pvp-6", "seq": 13, "ts": ..., "transfer": "c1-0",
     "amount_micro": 6500, "tag": "<64 hex>"}

``seq`` is the gateway's own counter for these requests: E keeps the
highest it accepted per gateway on its chain, so a replayed request (even a
correctly tagged one) is refused instead of spending twice.

``authenticate`` checks the tag first (nothing in an unauthenticated
request is looked at), then the shape; ownership and replay need E's state
and are checked by ``ElectricitySide``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from edge.protocol.auth import check_tag
from edge.protocol.errors import ProtocolError
from edge.protocol.types import MAX_SEQ, Hex32, Id, TsMs, Version1

from .errors import Reason, Refusals, Refused

MAX_AMOUNT = 1 << 50  # micro-currency, as peg.MAX_AMOUNT
Text = Annotated[str, Field(min_length=1, max_length=80)]


class OwnerRequest(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)

    v: Version1
    type: Literal["peg_spend", "peg_burn"]
    #: the gateway's site: present when the request came over the gateway's wire
    #: (edge.protocol.messages.PegSpend / PegBurn), covered by the tag like the rest
    site: Id | None = None
    gw: Id
    seq: Annotated[int, Field(ge=0, le=MAX_SEQ)]
    ts: TsMs
    transfer: Text
    amount_micro: Annotated[int, Field(ge=1, le=MAX_AMOUNT)]
    bill: Text | None = None
    tag: Hex32


def authenticate(doc: Any, kind: str, keys: Mapping[str, bytes],
                 refusals: Refusals) -> OwnerRequest:
    """The request if ``doc`` carries a valid tag of a known gateway and is well formed.

    ``keys`` maps gateway ids to their provisioned HMAC keys (the edge's
    gateway registry). peg_unsigned: no tag, an unknown gateway, or a tag
    that is not that gateway's over these exact contents. bad_request: a
    tagged request of the wrong kind or shape.
    """
    if not isinstance(doc, dict):
        raise refusals.refuse(Reason.BAD_REQUEST, "a request is a JSON object")
    gw = doc.get("gw")
    key = keys.get(gw) if isinstance(gw, str) else None
    if key is None:
        raise refusals.refuse(Reason.PEG_UNSIGNED, f"no gateway {gw!r} with a key is known")
    try:
        check_tag(doc, key)
    except ProtocolError:
        raise refusals.refuse(Reason.PEG_UNSIGNED,
                              f"the request is not tagged with {gw}'s key") from None
    except (TypeError, ValueError) as exc:  # not canonical (a float, a huge integer)
        raise refusals.refuse(Reason.BAD_REQUEST, f"request not encodable: {exc}") from None
    try:
        req = OwnerRequest.model_validate(doc)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"])
        raise refusals.refuse(Reason.BAD_REQUEST, f"request field {where}: {err['msg']}") from None
    if req.type != kind:
        raise refusals.refuse(Reason.BAD_REQUEST, f"a {req.type} request is no {kind}")
    if kind == "peg_spend" and req.bill is None:
        raise refusals.refuse(Reason.BAD_REQUEST, "a spend names the bill it pays")
    return req


__all__ = ["OwnerRequest", "Refused", "authenticate"]
