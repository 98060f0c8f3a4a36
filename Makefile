# One Makefile for the whole project. `make test` and `make sim` set
# themselves up from nothing; every target whose tool is missing says so in
# one sentence and fails.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
SLOW ?= 0
QUICK ?= 0
ONLY ?=
SCENARIO ?= ieee33-pv

.PHONY: setup deps test test-all sim demo lint bench hls-csim hls overlay firmware flash-gateway clean help

help:
	@echo "make sim      run a whole simulated day (sets itself up); SCENARIO=name for another"
	@echo "make demo     the whole system live and slow enough to watch, until Ctrl-C"
	@echo "make test     set up and run the tests (SLOW=1 adds the slow ones)"
	@echo "make setup    virtual environment, Python and Debian packages"
	@echo "make lint     ruff"
	@echo "make bench    benchmarks -> bench/results.jsonl, docs/benchmarks.md (QUICK=1: short run;"
	@echo "              YEAR=1: carbon series over a year of snapshots on 2 workers;"
	@echo "              HOURS=48: that series on 48 hours instead, to try it first)"
	@echo "make hls-csim C simulation of the PL kernels with g++"
	@echo "make hls      Vitis HLS synthesis and IP export (needs vitis_hls)"
	@echo "make overlay  Vivado overlay build (needs vivado)"
	@echo "make firmware compile the gateway firmware with mpy-cross"
	@echo "make flash-gateway PORT=/dev/ttyUSB0  copy firmware and config to a board"

setup: $(STAMP)

# Debian packages are installed when apt-get is there and we are root;
# otherwise a missing tool is reported by the test that needs it.
deps:
	@bash .ci/debian-deps.sh

$(STAMP): pyproject.toml setup.py $(wildcard edge/*/*.c hub/*/*.c)
	@bash .ci/debian-deps.sh
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@$(PY) -m pip install -q --upgrade pip >/dev/null
	@$(PY) -m pip install -q -e '.[hub,sim,dev]'
	@touch $(STAMP)

test: setup
	@if [ "$(SLOW)" = "1" ]; then $(PY) -m pytest; else $(PY) -m pytest -m "not slow"; fi

test-all: setup
	@$(PY) -m pytest

sim: setup
	@$(PY) -m simulator run --scenario $(SCENARIO)

demo: setup
	@$(PY) -m simulator run --scenario demo

lint: setup
	@$(PY) -m ruff check edge hub simulator tests bench

# Every figure with its same-run baseline and ratio -> bench/results.jsonl; a full run
# also regenerates docs/benchmarks.md (quick figures are too small to quote); with ONLY,
# just those benchmarks' sections of it.
bench: setup
	@QUICK=$(QUICK) ONLY=$(ONLY) YEAR=$(YEAR) HOURS=$(HOURS) $(PY) bench/run_all.py
	@if [ "$(QUICK)" != "1" ]; then $(PY) bench/report.py $(if $(ONLY),--only $(ONLY)); fi

hls-csim:
	@$(MAKE) --no-print-directory -C hls csim

hls:
	@$(MAKE) --no-print-directory -C hls synth

overlay:
	@$(MAKE) --no-print-directory -C overlays bitstream

firmware: setup
	@$(MAKE) --no-print-directory -C firmware build PY=$(abspath $(PY))

flash-gateway: setup
	@$(MAKE) --no-print-directory -C firmware flash PY=$(abspath $(PY)) PORT=$(PORT)

clean:
	rm -rf build .pytest_cache bench/results.jsonl
