#!/usr/bin/env bash
# Install the real stream servers the camera tests read (tests/stream_servers/): GStreamer's RTSP
# server for Debian's own Python (/usr/bin/python3 with python3-gi; the project's venv does not
# need it) and ffmpeg, which writes the test clips and serves them as live HLS and HTTP-FLV.
# Only these elements are used: qtdemux and rtph264pay (plugins-good), the RTSP server's
# rtpbin/appsink (plugins-base, good). Idempotent: does nothing when all is there already. Safe
# with CI=true and no standard input; uses sudo only when not root.
set -euo pipefail

PACKAGES=(gir1.2-gst-rtsp-server-1.0 python3-gi gstreamer1.0-plugins-base
          gstreamer1.0-plugins-good gstreamer1.0-tools ffmpeg)

have_all() {
  command -v ffmpeg >/dev/null 2>&1 || return 1
  [[ -x /usr/bin/python3 ]] || return 1
  /usr/bin/python3 - <<'PY' >/dev/null 2>&1 || return 1
import gi
gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import Gst, GstRtspServer  # noqa: F401
Gst.init(None)
missing = [e for e in ("qtdemux", "rtph264pay", "appsink", "rtpbin") if Gst.ElementFactory.find(e) is None]
raise SystemExit(1 if missing else 0)
PY
}

if have_all; then
  echo "streaming servers already installed: $(ffmpeg -version | head -n 1)"
  exit 0
fi

fail() {
  echo "install_streaming.sh: $*" >&2
  echo "install_streaming.sh: install them by hand: apt-get install ${PACKAGES[*]}" >&2
  exit 1
}

source "$(dirname "${BASH_SOURCE[0]}")/apt.sh"
apt_install "${PACKAGES[@]}"

have_all || fail "GStreamer's RTSP server or ffmpeg still missing after apt-get install"
echo "streaming servers installed: $(ffmpeg -version | head -n 1)"
