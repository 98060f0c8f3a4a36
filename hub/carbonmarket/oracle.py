"""Cross-chain reads: a signed request, signed oracle answers, a > 51 % vote.

A chain that needs the other chain's state (here: which header the other
chain's producer published at a height) signs a request with its producer
key; each configured oracle checks that signature, reads the other chain and
signs an answer bound to the request's hash (``hash`` None: no header at
that height yet). Asking for a given height, not for the head, keeps a proof
valid while the other chain moves on. The asking chain accepts the value
that more than 51 % of ALL its configured oracles signed (not of those that
answered: silence is not a vote). An unsigned or forged answer, and an
answer that disagrees with the accepted value, is refused and counted;
without a quorum nothing is accepted.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from edge.chain.keys import PrivateKey, public_id, sign, verify_signature
from edge.protocol.canonical import canonical

from .errors import Reason, Refusals, Refused

MAX_HEIGHT = (1 << 53) - 1  # a chain height any reader can hold; the store's key is an int64

QUORUM_PERCENT = 51


def _unsigned(doc: Mapping[str, Any]) -> bytes:
    return canonical({k: v for k, v in doc.items() if k != "sig"})


def make_request(key: PrivateKey, by: str, of: str, nonce: int, height: int) -> dict[str, Any]:
    """Chain ``by`` asks which header chain ``of`` has at ``height``; ``nonce`` makes it new."""
    req = {"kind": "header_request", "by": by, "of": of, "height": height, "nonce": nonce,
           "requester": public_id(key.public_key())}
    return {**req, "sig": sign(key, canonical(req)).hex()}


def request_digest(request: Mapping[str, Any]) -> str:
    return hashlib.sha256(canonical(dict(request))).hexdigest()


class Oracle:
    """One oracle: answers header requests of known requesters about the chains it reads."""

    def __init__(self, key: PrivateKey, requesters: Mapping[str, str],
                 readers: Mapping[str, Callable[[int], str | None]]) -> None:
        self.key = key
        self.id = public_id(key.public_key())
        self.requesters = dict(requesters)  # chain id -> producer id allowed to ask
        self.readers = dict(readers)  # chain id -> hash of its block at a height (None: none)

    def answer(self, request: Mapping[str, Any]) -> dict[str, Any]:
        by, of = request.get("by"), request.get("of")
        if by not in self.requesters or request.get("requester") != self.requesters[by]:
            raise Refused(Reason.BAD_REQUEST, f"no requester {by!r} with that key is known")
        try:
            ok = verify_signature(self.requesters[by], _unsigned(request),
                                  bytes.fromhex(str(request.get("sig"))))
        except ValueError:
            ok = False
        if not ok:
            raise Refused(Reason.BAD_REQUEST, "the request's signature does not verify")
        if of not in self.readers:
            raise Refused(Reason.BAD_REQUEST, f"this oracle does not read chain {of!r}")
        height = request.get("height")
        if not isinstance(height, int) or isinstance(height, bool) or not 0 <= height <= MAX_HEIGHT:
            raise Refused(Reason.BAD_REQUEST, f"the request names no height in 0..{MAX_HEIGHT}")
        ans = {"kind": "header_answer", "request": request_digest(request), "oracle": self.id,
               "of": of, "height": height, "hash": self.readers[of](height)}
        return {**ans, "sig": sign(self.key, canonical(ans)).hex()}


def tally(request: Mapping[str, Any], answers: Iterable[Any], oracles: Iterable[str],
          refusals: Refusals) -> tuple[int, str | None]:
    """The (height, hash) that > 51 % of the configured oracles signed for ``request``."""
    known = set(oracles)
    digest = request_digest(request)
    votes: dict[tuple[int, str | None], list[str]] = defaultdict(list)
    voted: set[str] = set()
    for a in answers:
        signed = False
        if isinstance(a, dict) and a.get("oracle") in known and a.get("request") == digest:
            try:
                signed = verify_signature(a["oracle"], _unsigned(a), bytes.fromhex(str(a["sig"])))
            except (KeyError, ValueError):
                signed = False
        if not signed or a.get("height") != request.get("height") \
                or not isinstance(a.get("hash"), (str, type(None))):
            refusals.refuse(Reason.ORACLE_UNSIGNED, "an answer without a valid oracle signature")
            continue
        if a["oracle"] in voted:
            continue  # one vote per oracle
        voted.add(a["oracle"])
        votes[(a["height"], a["hash"])].append(a["oracle"])
    if votes:
        value, who = max(votes.items(), key=lambda kv: len(kv[1]))
        if len(who) * 100 > QUORUM_PERCENT * len(known):
            for other, those in votes.items():
                if other != value:
                    for _ in those:
                        refusals.refuse(Reason.ORACLE_MINORITY,
                                        f"an answer {other} outvoted by {value}")
            return value
    raise refusals.refuse(Reason.ORACLE_NO_QUORUM,
                          f"no answer has more than {QUORUM_PERCENT} % of {len(known)} oracles")
