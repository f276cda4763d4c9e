#!/usr/bin/env bash
# Install a font that draws Chinese (Debian's fonts-noto-cjk) for the names the console renders
# into the demo's basemap (gis/fonts.py looks for it; without one the basemap has no names).
# Idempotent: does nothing when fontconfig already lists a Chinese font. Safe with CI=true and
# no standard input; uses sudo only when not root.
set -euo pipefail

if command -v fc-list >/dev/null 2>&1 && [[ -n "$(fc-list :lang=zh file 2>/dev/null)" ]]; then
  echo "a Chinese font is installed: $(fc-list :lang=zh file | head -n 1 | cut -d: -f1)"
  exit 0
fi

fail() {
  echo "install_fonts.sh: $*" >&2
  echo "install_fonts.sh: install it by hand: apt-get install fonts-noto-cjk" >&2
  exit 1
}

source "$(dirname "${BASH_SOURCE[0]}")/apt.sh"
apt_install fonts-noto-cjk fontconfig
echo "Chinese font installed"
