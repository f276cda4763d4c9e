#!/usr/bin/env bash
# Set up everything zhizhi needs on a fresh machine: a virtual environment with the Python
# packages, the front-end assets (from the npm registry, served locally by the console), a
# Chinese font (Debian's fonts-noto-cjk, for the demo's rendered basemap) and,
# with --test, Debian's Chromium for the browser tests and PostGIS on the machine's PostgreSQL
# (started when not running) for the store tests. Idempotent; safe with CI=true and no
# standard input.
set -euo pipefail
cd "$(dirname "$0")/.."

want_test=0
[[ "${1:-}" == "--test" ]] && want_test=1

PYTHON="${PYTHON:-python3}"
if ! "$PYTHON" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)'; then
  echo "zhizhi needs Python >= 3.11 (found: $("$PYTHON" --version 2>&1))" >&2
  exit 1
fi
if [[ ! -x .venv/bin/python ]]; then
  echo "==> creating .venv"
  "$PYTHON" -m venv .venv
fi
stamp=.venv/.zhizhi-installed
if [[ ! -f "$stamp" || pyproject.toml -nt "$stamp" ]]; then
  echo "==> installing Python packages"
  .venv/bin/python -m pip install --quiet --upgrade pip
  .venv/bin/python -m pip install --quiet -e ".[dev,train]"
  touch "$stamp"
fi

echo "==> the detector's CPU runtime (an OpenVINO export of its weights, made once: docs/runtime.md)"
.venv/bin/python scripts/warm_detector_runtime.py || echo "(no export now: the first worker makes it)"

echo "==> front-end assets"
bash scripts/install_assets.sh

echo "==> a Chinese font for the names of the demo's rendered basemap"
if [[ $want_test -eq 1 ]]; then
  bash scripts/install_fonts.sh  # the basemap tests check the names
else
  bash scripts/install_fonts.sh || echo "(no Chinese font: the demo's basemap is drawn without names)"
fi

if [[ $want_test -eq 1 ]]; then
  echo "==> Chromium for browser tests"
  bash scripts/install_chromium.sh
  echo "==> PostgreSQL with PostGIS for the store tests"
  bash scripts/install_postgis.sh
  echo "==> GDAL's ogrinfo, the OGC API client the /ogc tests drive"
  bash scripts/install_gdal.sh
  echo "==> GStreamer's RTSP server and ffmpeg, the real streams the camera tests read"
  bash scripts/install_streaming.sh
  echo "==> LibreOffice Calc (headless): the CSV export tests open an export as a spreadsheet"
  bash scripts/install_libreoffice.sh
fi
