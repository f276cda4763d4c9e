#!/usr/bin/env bash
# Install Debian's LibreOffice Calc without a display (libreoffice-calc-nogui, about 85 MB of
# packages) for the CSV export tests: they open an export as a spreadsheet program does and
# check what it read (tests/console/test_csv_exports.py). Idempotent: does nothing when soffice
# is already on PATH. Safe with CI=true and no standard input; uses sudo only when not root.
set -euo pipefail

if command -v soffice >/dev/null 2>&1; then
  echo "LibreOffice already installed: $(soffice --version 2>/dev/null | head -n 1)"
  exit 0
fi

fail() {
  echo "install_libreoffice.sh: $*" >&2
  echo "install_libreoffice.sh: install it by hand: apt-get install libreoffice-calc-nogui" >&2
  exit 1
}

source "$(dirname "${BASH_SOURCE[0]}")/apt.sh"
apt_install libreoffice-calc-nogui

command -v soffice >/dev/null 2>&1 || fail "soffice still missing after apt-get install libreoffice-calc-nogui"
echo "LibreOffice installed: $(soffice --version 2>/dev/null | head -n 1)"
