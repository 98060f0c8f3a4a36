"""Cross-chain reads: a signed request, answers signed by oracles, accepted on a > 51 % vote.

A chain that needs the other chain's state (here: which head is final)
signs a request with its producer key; each configured oracle checks that
signature, reads the other chain and signs an answer bound to the request's
hash. The asking chain accepts the value that more than 51 % of ALL its
configured oracles signed (not of those that answered: silence is not a
vote). An unsigned or forged answer, and an answer that disagrees with the
accepted value, is refused and counted; without a quorum nothing is accepted.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from edge.chain.keys import PrivateKey, public_id, sign, verify_signature
from edge.protocol.canonical import canonical

from .errors import Reason, Refusals, Refused

QUORUM_PERCENT = 51


def _unsigned(doc: Mapping[str, Any]) -> bytes:
    return canonical({k: v for k, v in doc.items() if k != "sig"})


def make_request(key: PrivateKey, by: str, of: str, nonce: int) -> dict[str, Any]:
    """Chain ``by`` asks for the head of chain ``of``; ``nonce`` makes every request new."""
    req = {"kind": "head_request", "by": by, "of": of, "nonce": nonce,
           "requester": public_id(key.public_key())}
    return {**req, "sig": sign(key, canonical(req)).hex()}


def request_digest(request: Mapping[str, Any]) -> str:
    return hashlib.sha256(canonical(dict(request))).hexdigest()


class Oracle:
    """One oracle: answers head requests of known requesters about the chains it can read."""

    def __init__(self, key: PrivateKey, requesters: Mapping[str, str],
                 heads: Mapping[str, Callable[[], tuple[int, str]]]) -> None:
        self.key = key
        self.id = public_id(key.public_key())
        self.requesters = dict(requesters)  # chain id -> producer id allowed to ask
        self.heads = dict(heads)  # chain id -> reads (height, hash) of its head

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
        if of not in self.heads:
            raise Refused(Reason.BAD_REQUEST, f"this oracle does not read chain {of!r}")
        height, hash_ = self.heads[of]()
        ans = {"kind": "head_answer", "request": request_digest(request), "oracle": self.id,
               "of": of, "height": height, "hash": hash_}
        return {**ans, "sig": sign(self.key, canonical(ans)).hex()}


def tally(request: Mapping[str, Any], answers: Iterable[Any], oracles: Iterable[str],
          refusals: Refusals) -> tuple[int, str]:
    """The (height, hash) that > 51 % of the configured oracles signed for ``request``."""
    known = set(oracles)
    digest = request_digest(request)
    votes: dict[tuple[int, str], list[str]] = defaultdict(list)
    voted: set[str] = set()
    for a in answers:
        signed = False
        if isinstance(a, dict) and a.get("oracle") in known and a.get("request") == digest:
            try:
                signed = verify_signature(a["oracle"], _unsigned(a), bytes.fromhex(str(a["sig"])))
            except (KeyError, ValueError):
                signed = False
        if not signed or not isinstance(a.get("height"), int) or not isinstance(a.get("hash"), str):
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
