#!/usr/bin/env bash
# Install Debian's gdal-bin for the OGC API - Features tests: they drive ogrinfo's OAPIF driver
# against a live console (tests/console/test_ogc.py). Idempotent: does nothing when ogrinfo is
# already on PATH. Safe with CI=true and no standard input; uses sudo only when not root.
set -euo pipefail

if command -v ogrinfo >/dev/null 2>&1; then
  echo "ogrinfo already installed: $(ogrinfo --version)"
  exit 0
fi

fail() {
  echo "install_gdal.sh: $*" >&2
  echo "install_gdal.sh: install it by hand: apt-get install gdal-bin" >&2
  exit 1
}

source "$(dirname "${BASH_SOURCE[0]}")/apt.sh"
apt_install gdal-bin

command -v ogrinfo >/dev/null 2>&1 || fail "ogrinfo still missing after apt-get install gdal-bin"
ogrinfo --formats | grep -q OAPIF || fail "this ogrinfo has no OAPIF driver (GDAL >= 3.1 needed)"
echo "ogrinfo installed: $(ogrinfo --version)"
