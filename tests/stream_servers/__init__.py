"""Real stream servers on loopback for the camera tests, and the H.264 clips they serve.

- :class:`~tests.stream_servers.rtsp.RtspServer`: GStreamer's RTSP server (``rtsp_server.py``,
  run with Debian's Python), stopped and started again on the same port like a rebooting camera;
- :class:`~tests.stream_servers.http_live.HlsServer`: a live HLS playlist that ffmpeg writes,
  served over HTTP, as a GB/T 28181 media server (ZLMediaKit) re-publishes a channel;
- :class:`~tests.stream_servers.http_live.FlvServer`: HTTP-FLV, ffmpeg's FLV piped to each client;
- :func:`~tests.stream_servers.clip.write_h264_clip`: the clip they play (ffmpeg, never committed).

``scripts/install_streaming.sh`` installs what they need (``scripts/setup.sh --test`` runs it).
"""

from tests.stream_servers.clip import write_h264_clip
from tests.stream_servers.http_live import FlvServer, HlsServer
from tests.stream_servers.rtsp import RtspServer, free_port

__all__ = ["FlvServer", "HlsServer", "RtspServer", "free_port", "write_h264_clip"]
