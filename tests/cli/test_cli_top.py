"""The top of the command line: `carbon-edge --version` and every leaf's help."""

from __future__ import annotations

import argparse
import importlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import tomllib

from edge.cli import components, main

ROOT = Path(__file__).resolve().parents[2]


def test_version_is_one_line_with_the_projects_version(capsys):
    expected = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    with pytest.raises(SystemExit) as exc:
        main(["--version"])
    assert exc.value.code == 0
    assert capsys.readouterr().out == f"carbon-edge {expected}\n"


def test_version_from_the_console_script():
    expected = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = subprocess.run([sys.executable, "-m", "edge.cli", "--version"], env=env,
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == f"carbon-edge {expected}"


def leaves() -> dict[tuple[str, str], argparse.ArgumentParser]:
    """Every leaf parser, found as the hostile-input test finds them (entry points)."""
    found = {}
    for name, comp in components().items():
        p = argparse.ArgumentParser()
        importlib.import_module(comp.module).register(p)
        for a in p._actions:
            if isinstance(a, argparse._SubParsersAction):
                found.update({(name, leaf): lp for leaf, lp in a.choices.items()})
    return found


LEAVES = leaves()


def test_leaves_are_found():
    assert ("edge", "check-config") in LEAVES and ("sim", "run") in LEAVES
    assert len(LEAVES) >= 40


@pytest.mark.parametrize("key", sorted(LEAVES), ids=lambda k: " ".join(k))
def test_every_leaf_has_a_description_an_example_and_shows_its_defaults(key):
    lp = LEAVES[key]
    assert lp.description and "\n" not in lp.description.strip()
    assert lp.epilog and "example" in lp.epilog
    # the example runs this very leaf
    assert f"carbon-edge {key[0]} {key[1]}" in lp.epilog
    text = " ".join(lp.format_help().split())  # wrapping undone
    for a in lp._actions:
        d = a.default
        if not a.option_strings or d is None or isinstance(d, bool) or d == "" \
                or d is argparse.SUPPRESS:
            continue
        assert f"default: {d}" in text or f"default {d}" in text, (a.option_strings, d)


def test_no_none_default_is_shown():
    text = LEAVES[("chain", "show")].format_help()
    assert "None" not in text and "False" not in text
    assert "(default: 10)" in " ".join(LEAVES[("chain", "append-demo")].format_help().split())


@pytest.mark.parametrize("config", ["missing.toml", "."])
def test_check_config_on_a_missing_or_unreadable_file_is_an_input_error(config, tmp_path,
                                                                       monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["edge", "check-config", "--config", config]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and config in err


def test_text_output_has_no_python_reprs(capsys):
    from edge.runtime.cli import _counts

    assert main(["pl", "info"]) == 0
    out = capsys.readouterr().out
    assert "None" not in out and "{" not in out
    assert _counts({"telemetry": 3, "bid": 1}) == "bid 1, telemetry 3"
    assert _counts({}) == "none"


def _site(tmp_path: Path, sync: str) -> Path:
    """The loopback example site, made runnable in tmp_path, with a [sync] section."""
    from edge.chain.keys import generate_key, save_private_key

    if not (tmp_path / "edge.pem").exists():
        save_private_key(generate_key(), tmp_path / "edge.pem")
    text = (ROOT / "docs/examples/site-local.toml").read_text()
    text = text.replace('"../../edge-data"', '"data"').replace('"../../edge.pem"', '"edge.pem"')
    (tmp_path / "site.toml").write_text(text + "\n" + sync)
    return tmp_path / "site.toml"


def test_the_loopback_example_site_has_no_warnings(tmp_path, capsys):
    cfg = _site(tmp_path, "")
    assert main(["edge", "check-config", "--config", str(cfg)]) == 0
    out, err = capsys.readouterr()
    assert out.strip() == "config ok" and "warning" not in err


def test_hub_id_is_read_and_the_old_name_hub_key_warns(tmp_path, capsys):
    from edge.runtime.config import load_config

    hub = "ab" * 32
    cfg = _site(tmp_path, f'[sync]\nurl = "https://hub.site-7.net"\nhub_id = "{hub}"\n')
    assert load_config(cfg).sync.hub_id == hub
    assert main(["edge", "check-config", "--config", str(cfg)]) == 0
    assert "warning" not in capsys.readouterr().err
    cfg = _site(tmp_path, f'[sync]\nurl = "https://hub.site-7.net"\nhub_key = "{hub}"\n')
    assert load_config(cfg).sync.hub_id == hub
    assert main(["edge", "check-config", "--config", str(cfg)]) == 0
    out, err = capsys.readouterr()
    assert out.strip() == "config ok"
    assert err.splitlines() == ["warning: sync.hub_key is deprecated: rename it hub_id "
                                "(the old name is read for one more release)"]
    both = _site(tmp_path, f'[sync]\nurl = "https://h.net"\nhub_key = "{hub}"\nhub_id = "{hub}"\n')
    assert main(["edge", "check-config", "--config", str(both)]) == 1


def test_placeholder_values_warn_but_pass(tmp_path, capsys):
    cfg = _site(tmp_path, '[sync]\nurl = "https://hub.example.org"\nhub_id = "' + "0" * 64
                + '"\n')
    assert main(["edge", "check-config", "--config", str(cfg)]) == 0
    out, err = capsys.readouterr()
    assert out.strip() == "config ok"
    lines = err.splitlines()
    assert all(ln.startswith("warning: ") for ln in lines) and len(lines) == 2, lines
    assert "sync.url" in lines[0] and "example.org" in lines[0]
    assert "sync.hub_id" in lines[1] and "all zeros" in lines[1]
    assert main(["edge", "check-config", "--json", "--config", str(cfg)]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["ok"] and len(doc["warnings"]) == 2


def test_the_site_template_warns_on_its_placeholders(capsys):
    assert main(["edge", "check-config", "--config",
                 str(ROOT / "docs/examples/site.toml")]) == 1  # its key files are not here
    err = capsys.readouterr().err
    assert "warning: sync.hub_id is all zeros" in err and "example.org" in err
