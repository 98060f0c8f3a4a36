"""The hub's API fuzzed by schemathesis against its own OpenAPI schema on a live server.

The schemathesis command line (4.x) is used rather than its pytest plugin,
which does not run under pytest 9. The contract we hold the API to: no 5xx
for any generated input, documented status codes and content types, and
answers that match their response models. One worker: with two,
schemathesis's coverage phase now and then crashes inside hypothesis's source
reflection (a thread race in its own code, not a finding about our API).

Every route is fuzzed, the signed edge routes (block ingest included: the
hooks in tests/hub/fuzz_hooks.py sign each request as a registered edge) and
the compute routers (/allocation, /carbon) included:
their API limits (docs/hub.md, "API limits") bound what one request costs, so
whatever schemathesis generates finishes in seconds. Their example counts are
smaller, and the coverage phase sends them only invalid inputs: in positive
mode it would walk every value of the case-name enums, i.e. trace every
served built-in case and run a 24-hour series on each (about 80 s here),
where the fuzzing phase draws some of them at random.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from edge.chain.keys import save_private_key
from tests.kit.hub import REPO

CHECKS = "not_a_server_error,status_code_conformance,content_type_conformance," \
         "response_schema_conformance"

CONFIG = """
[generation]
max-examples = 20

[[operations]]
include-path-regex = "^/allocation/"
generation.max-examples = 10
# Most random games are refused by checks JSON Schema cannot state (regions, buses, ids).
warnings = { enabled = true, display = ["missing_auth", "missing_test_data"] }

[[operations]]
include-path-regex = "^/carbon/"
generation.max-examples = 6
phases.coverage.generation.mode = "negative"
"""


def metric(hub, name: str) -> float:
    text = httpx.get(hub.url + "/metrics").text
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
               if line.startswith(name))


def test_no_server_errors_and_answers_match_the_schema(hub_server, edge_on_hub, tmp_path):
    exe = Path(sys.executable).with_name("schemathesis")
    if not exe.exists() and shutil.which("schemathesis") is None:
        pytest.skip("schemathesis is not installed (pip install -e '.[dev]')")
    config = tmp_path / "schemathesis.toml"
    config.write_text(CONFIG)
    key_file = tmp_path / "edge.pem"
    save_private_key(edge_on_hub.key, key_file)
    signed_refusals = {r: metric(hub_server, f'hub_refused_total{{reason="{r}"}}')
                       for r in ("missing_auth", "bad_signature", "wrong_edge")}
    cmd = [str(exe) if exe.exists() else "schemathesis", "--config-file", str(config), "run",
           hub_server.url + "/openapi.json", "--checks", CHECKS,
           "--phases", "examples,coverage,fuzzing", "--seed", "7", "--workers", "1",
           "--request-timeout", "60", "--no-color",
           "-H", f"Authorization: Bearer {hub_server.operator_token}",
           "--report-junit-path", str(tmp_path / "junit.xml")]
    env = {**os.environ, "PYTHONPATH": str(REPO), "SCHEMATHESIS_HOOKS": "tests.hub.fuzz_hooks",
           "HUB_FUZZ_EDGE_KEY": str(key_file)}
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=300, cwd=tmp_path, env=env)
    assert out.returncode == 0, out.stdout[-6000:] + out.stderr[-2000:]
    assert "No issues found" in out.stdout or " passed" in out.stdout, out.stdout[-2000:]
    junit = (tmp_path / "junit.xml").read_text()
    for op in ("POST /allocation/owen", "POST /allocation/prices", "POST /carbon/trace",
               "POST /carbon/series", "POST /v1/edges/{edge_id}/blocks",
               "GET /v1/edges/{edge_id}/head", "GET /v1/edges/{edge_id}/receipts"):
        assert op in junit, f"{op} was not tested"
    # the hook signed every request to the signed routes: none was refused as unsigned
    for reason, before in signed_refusals.items():
        assert metric(hub_server, f'hub_refused_total{{reason="{reason}"}}') == before, reason
