"""schemathesis hooks (SCHEMATHESIS_HOOKS=tests.hub.fuzz_hooks): sign requests as an edge.

Signed routes (`/v1/edges/{edge_id}/...`, block ingest included) refuse
anything unsigned with 401 before their schema is even looked at, so without
this hook a fuzzer only ever meets the authentication check. Here every
request to such a route is sent for the registered edge whose key file
HUB_FUZZ_EDGE_KEY names: the path's edge id is that edge's, and the exact
body bytes are signed (the body is serialized here and sent as those bytes).
"""

from __future__ import annotations

import json
import os
import time

import requests
import schemathesis
from schemathesis.core import NotSet

from edge.chain.keys import load_private_key, public_id
from edge.sync.signing import sign_request

_KEY = load_private_key(os.environ["HUB_FUZZ_EDGE_KEY"])
_EDGE = public_id(_KEY.public_key())
SIGNED = ("/v1/edges/{edge_id}/head", "/v1/edges/{edge_id}/blocks",
          "/v1/edges/{edge_id}/receipts", "/v1/edges/{edge_id}/blocks/{height}",
          "/v1/edges/{edge_id}/blocks/{height}/txs/{idx}/proof")


@schemathesis.hook
def before_call(context, case, kwargs) -> None:  # noqa: ANN001 - schemathesis's signature
    if case.operation.path not in SIGNED:
        return
    case.path_parameters = {**(case.path_parameters or {}), "edge_id": _EDGE}
    body = b""
    if case.operation.method.upper() == "POST":
        raw = case.body
        if not isinstance(raw, NotSet):
            body = raw if isinstance(raw, bytes) else json.dumps(raw).encode()
            case.body = body
            case.media_type = "application/json"
    sent = case.as_transport_kwargs(base_url="http://h")  # the URL as schemathesis will send it
    url = requests.Request("GET", sent["url"], params=sent.get("params")).prepare().path_url
    case.headers = {**(case.headers or {}),
                    **sign_request(_KEY, case.operation.method.upper(), url,
                                   int(time.time() * 1000), body)}
