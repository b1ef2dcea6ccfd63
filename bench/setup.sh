#!/usr/bin/env bash
# Install what the benchmark needs beside the project's venv:
#   - wrk, the HTTP load generator (Debian package `wrk`), with apt-get when it is missing;
#   - bench/.venv: moto[server] (the peer), botocore (SigV4 pre-signing), py-spy and
#     pyinstrument (profilers), from bench/requirements.txt.
# Safe to run again: it does nothing that is already done.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v wrk >/dev/null 2>&1; then
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq wrk
fi

VENV=bench/.venv
STAMP=$VENV/.installed
if [ ! -f "$STAMP" ] || [ bench/requirements.txt -nt "$STAMP" ]; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q --upgrade pip
  "$VENV/bin/pip" install -q -r bench/requirements.txt
  touch "$STAMP"
fi
