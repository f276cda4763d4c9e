#!/usr/bin/env bash
# Install Debian's Chromium (and CJK fonts, so Chinese names render) for the browser tests.
# The tests launch /usr/bin/chromium directly; Playwright's own browser download is not used.
# Idempotent: does nothing when /usr/bin/chromium is already there. Safe with CI=true and no
# standard input; uses sudo only when not root.
set -euo pipefail

CHROMIUM="/usr/bin/chromium"
if [[ -x "$CHROMIUM" ]]; then
  echo "chromium already installed: $("$CHROMIUM" --version 2>/dev/null || echo "$CHROMIUM")"
  exit 0
fi

fail() {
  echo "install_chromium.sh: $*" >&2
  echo "install_chromium.sh: install it by hand: apt-get install chromium fonts-noto-cjk" >&2
  exit 1
}

source "$(dirname "${BASH_SOURCE[0]}")/apt.sh"
apt_install chromium fonts-noto-cjk

[[ -x "$CHROMIUM" ]] || fail "$CHROMIUM still missing after apt-get install"
echo "chromium installed: $("$CHROMIUM" --version 2>/dev/null || echo "$CHROMIUM")"
