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

command -v apt-get >/dev/null 2>&1 || fail "apt-get not found; this script needs Debian or Ubuntu"

SUDO=()
if [[ "$(id -u)" -ne 0 ]]; then
  if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    SUDO=(sudo -n)
  else
    fail "not root and no password-less sudo available"
  fi
fi

export DEBIAN_FRONTEND=noninteractive
echo "==> apt-get update"
"${SUDO[@]}" apt-get update </dev/null || fail "apt-get update failed"
echo "==> apt-get install chromium fonts-noto-cjk"
"${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive \
  apt-get install -y --no-install-recommends chromium fonts-noto-cjk </dev/null \
  || fail "apt-get install failed"

[[ -x "$CHROMIUM" ]] || fail "$CHROMIUM still missing after apt-get install"
echo "chromium installed: $("$CHROMIUM" --version 2>/dev/null || echo "$CHROMIUM")"
