#!/usr/bin/env bash
# Python 3.10, the edge's interpreter on the PYNQ image: the tests compile edge/ with it and
# run the protocol vectors under it. Prints a directory to put on PATH (empty when a
# python3.10 is already there); installs one with uv, else pyenv, when neither has it.
set -euo pipefail
command -v python3.10 >/dev/null 2>&1 && exit 0
found=$(ls -d "$HOME"/.pyenv/versions/3.10*/bin 2>/dev/null | tail -1 || true)
if [ -z "$found" ] && command -v uv >/dev/null 2>&1; then
  uv python install 3.10 >&2 && found=$(dirname "$(uv python find 3.10)")
fi
if [ -z "$found" ] && command -v pyenv >/dev/null 2>&1; then
  pyenv install -s 3.10 >&2 && found=$(ls -d "$HOME"/.pyenv/versions/3.10*/bin | tail -1)
fi
[ -n "$found" ] || echo "note: no Python 3.10 (install uv or pyenv)" >&2
echo "$found"
