"""A carbon side, an electricity side and three oracles on files of the test's own directory."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edge.chain.keys import PrivateKey, generate_key, public_id
from edge.protocol.auth import add_tag
from hub.carbonmarket.oracle import Oracle
from hub.carbonmarket.peg import CarbonSide, ElectricitySide
from hub.carbonmarket.submissions import Submissions

C_ID, E_ID = "carbon", "electricity"
GW_KEYS = {"seller": bytes([7]) * 32, "buyer": bytes([8]) * 32, "pvp-6": bytes([9]) * 32,
           "pvp-14": bytes([10]) * 32}


@dataclass
class Peg:
    root: Path
    c_key: PrivateKey
    e_key: PrivateKey
    oracles: list[Oracle]
    c: CarbonSide
    e: ElectricitySide
    answer_override: Any = None  # a function(request, honest answers) -> answers, for tests
    #: the gateways' provisioned HMAC keys, as the edge holds them; sellers are "seller" here
    gw_keys: dict[str, bytes] = field(default_factory=lambda: dict(GW_KEYS))
    seq: int = 0

    def owner_request(self, kind: str, transfer: str, amount: int, bill: str | None = None,
                      gw: str = "seller", key: bytes | None = None) -> dict[str, Any]:
        """A peg_spend / peg_burn tagged as the gateway ``gw`` tags its messages."""
        self.seq += 1
        req = {"v": 1, "type": kind, "gw": gw, "seq": self.seq, "ts": 1_767_225_600_000,
               "transfer": transfer, "amount_micro": amount}
        if bill is not None:
            req["bill"] = bill
        return add_tag(req, key if key is not None else self.gw_keys[gw])

    def spend(self, transfer: str, amount: int, bill: str, now_ms: int,
              gw: str = "seller") -> None:
        self.e.spend(self.owner_request("peg_spend", transfer, amount, bill, gw),
                     self.gw_keys, now_ms)

    def burn(self, transfer: str, amount: int, now_ms: int, gw: str = "seller") -> int:
        return self.e.burn(self.owner_request("peg_burn", transfer, amount, gw=gw),
                           self.gw_keys, now_ms)

    def ask(self, request: dict[str, Any]) -> list[Any]:
        answers = [o.answer(request) for o in self.oracles]
        return answers if self.answer_override is None else self.answer_override(request, answers)

    def reopen(self) -> None:
        """Close both sides and rebuild them from their chains (what a restart does)."""
        self.c.close()
        self.e.close()
        self.c, self.e = _sides(self)

    def process(self, now_ms: int = 2) -> None:
        for side, box in ((self.e, "e_box.db"), (self.c, "c_box.db")):
            b = Submissions(self.root / box)
            side.process(b, now_ms)
            b.close()

    def relayer_config(self) -> Path:
        path = self.root / "relayer.json"
        path.write_text(json.dumps({
            "carbon_chain": str(self.root / "c.db"), "electricity_chain": str(self.root / "e.db"),
            "carbon_box": str(self.root / "c_box.db"),
            "electricity_box": str(self.root / "e_box.db"),
            "state": str(self.root / "relayer.db"), "carbon_id": C_ID, "electricity_id": E_ID}))
        return path


def _sides(p: Peg) -> tuple[CarbonSide, ElectricitySide]:
    ids = [o.id for o in p.oracles]
    c = CarbonSide(p.root / "c.db", C_ID, p.c_key, E_ID, public_id(p.e_key.public_key()), ids,
                   p.ask)
    e = ElectricitySide(p.root / "e.db", E_ID, p.e_key, C_ID, public_id(p.c_key.public_key()),
                        ids, p.ask)
    return c, e


def make_peg(root: Path, n_oracles: int = 3) -> Peg:
    c_key, e_key = generate_key(), generate_key()
    requesters = {C_ID: public_id(c_key.public_key()), E_ID: public_id(e_key.public_key())}
    peg = Peg(root, c_key, e_key, [], None, None)  # type: ignore[arg-type]

    def reader(side: str):
        return lambda height: getattr(peg, side).hash_at(height)

    peg.oracles = [Oracle(generate_key(), requesters, {C_ID: reader("c"), E_ID: reader("e")})
                   for _ in range(n_oracles)]
    peg.c, peg.e = _sides(peg)
    return peg
