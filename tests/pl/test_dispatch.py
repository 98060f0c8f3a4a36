"""The dispatcher: a Hasher and clearer that picks cpu or accelerator by measured crossover."""

from __future__ import annotations

import json

import pytest

from edge.chain.merkle import merkle_root
from edge.market.clearing import clear_uniform
from edge.pl import dispatch
from edge.pl.dispatch import Dispatcher, crossover_point, load_crossover, save_crossover
from edge.pl.errors import PlUnavailable

XO = {"sim": {"hash": 100, "clear": 10}}


@pytest.fixture
def sim_dispatcher(sim_backend):
    # the session-built library, not a second build
    return Dispatcher("auto", accelerator="sim", crossover=XO, accelerator_backend=sim_backend)


def test_small_batches_go_to_the_cpu_large_ones_to_the_accelerator(sim_dispatcher):
    d = sim_dispatcher
    msgs = [bytes([i]) for i in range(150)]
    d.sha256_many(msgs[:99])
    assert d.last == "cpu"
    big = d.leaf_hashes(msgs)
    assert d.last == "sim"
    assert big == dispatch.CpuBackend().leaf_hashes(msgs)
    orders = dispatch.random_orders(12)
    assert d.clear_uniform(orders[:9]) == clear_uniform(orders[:9]) and d.last == "cpu"
    assert d.clear_uniform(orders) == clear_uniform(orders) and d.last == "sim"


def test_merkle_root_through_the_dispatcher(sim_dispatcher):
    leaves = [f"tx{i}".encode() for i in range(1000)]
    assert merkle_root(leaves, sim_dispatcher) == merkle_root(leaves)
    assert sim_dispatcher.last == "cpu"  # the top levels are small: back on the cpu


def test_explicit_backend_overrides(sim_backend):
    d = Dispatcher("cpu", crossover=XO)
    d.sha256_many([b"x"] * 500)
    assert d.last == "cpu"
    d = Dispatcher("sim", crossover={}, accelerator_backend=sim_backend)
    d.sha256_many([b"x"])
    assert d.last == "sim"
    with pytest.raises(ValueError, match="unknown back end 'gpu'"):
        Dispatcher("gpu")


def test_no_crossover_means_cpu(sim_backend):
    d = Dispatcher("auto", accelerator="sim", crossover={"sim": {"hash": None, "clear": None}})
    d.sha256_many([b"x"] * 10_000)
    assert d.last == "cpu" and not d.accelerator_built  # never even built


def test_unavailable_accelerator_falls_back_in_auto_and_fails_when_explicit():
    d = Dispatcher("auto", accelerator="pynq", crossover={"pynq": {"hash": 1, "clear": 1}})
    assert d.sha256_many([b"a", b"b"]) == dispatch.CpuBackend().sha256_many([b"a", b"b"])
    assert d.last == "cpu" and "pynq package is not installed" in d.accelerator_error
    with pytest.raises(PlUnavailable, match="runs on the board"):
        Dispatcher("pynq").sha256_many([b"a"])


def test_crossover_point():
    assert crossover_point([(1, 1.0, 2.0), (10, 1.0, 0.5), (100, 1.0, 0.5)]) == 10
    assert crossover_point([(1, 1.0, 0.5), (10, 1.0, 2.0), (100, 1.0, 0.5)]) == 100
    assert crossover_point([(1, 1.0, 2.0), (10, 1.0, 2.0)]) is None
    assert crossover_point([]) is None


def test_calibrate_writes_a_measured_crossover(sim_backend, tmp_path):
    entry = dispatch.calibrate(sim_backend, [1, 10], repeats=1)
    assert set(entry) >= {"hash", "clear", "hash_seconds", "clear_seconds", "measured_on"}
    assert [p["size"] for p in entry["clear_seconds"]] == [1, 10]
    assert all(p["cpu"] > 0 and p["accel"] > 0 for p in entry["hash_seconds"])
    path = save_crossover("sim", entry, tmp_path / "xo.json")
    save_crossover("pynq", {"hash": 5, "clear": None}, path)
    doc = load_crossover(path)
    assert doc["sim"]["sizes"] == [1, 10] and doc["pynq"]["hash"] == 5


def test_bad_crossover_file(tmp_path):
    p = tmp_path / "xo.json"
    p.write_text(json.dumps({"sim": {"hash": -3}}))
    with pytest.raises(ValueError, match="sim.hash must be null or a count"):
        load_crossover(p)
    p.write_text("{")
    with pytest.raises(ValueError, match="not JSON"):
        load_crossover(p)
    assert load_crossover(tmp_path / "absent.json") == {}


def test_shipped_crossover_is_valid():
    doc = load_crossover(dispatch.SHIPPED_CROSSOVER)
    assert "sim" in doc and "pynq" in doc
