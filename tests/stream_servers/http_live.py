"""Live HLS and HTTP-FLV over loopback HTTP, as a GB/T 28181 media server re-publishes a channel.

ffmpeg plays the clip in real time (``-re``) and over and over (``-stream_loop -1``) without
re-encoding; :class:`HlsServer` has it write a sliding playlist of 1 s segments into a folder that
an HTTP server serves, :class:`FlvServer` pipes its FLV to each client of an HTTP endpoint.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import threading
import time
from functools import partial
from http.server import BaseHTTPRequestHandler, SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Self


def _ffmpeg() -> str:
    ffmpeg = shutil.which("ffmpeg")
    assert ffmpeg, "ffmpeg missing: run scripts/install_streaming.sh"
    return ffmpeg


def _live_input(clip: Path) -> list[str]:
    return [_ffmpeg(), "-hide_banner", "-loglevel", "error", "-re", "-stream_loop", "-1", "-i", str(clip),
            "-an", "-c:v", "copy"]


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True


class _HttpServer:
    """A threading HTTP server on 127.0.0.1 run in a background thread."""

    def __init__(self, handler) -> None:
        self._httpd = _QuietServer(("127.0.0.1", 0), handler)
        self.port = self._httpd.server_address[1]
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(5)


class _Files(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args) -> None:
        pass


class HlsServer:
    """``clip`` as a live HLS stream at ``url`` (``/live.m3u8``: 1 s segments, the newest 5)."""

    def __init__(self, clip: Path) -> None:
        self.clip = Path(clip)
        self._dir = tempfile.TemporaryDirectory(prefix="hls-")
        self._ffmpeg: subprocess.Popen | None = None
        self._http: _HttpServer | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._http.port}/live.m3u8"

    @property
    def folder(self) -> Path:
        """The served folder (the playlist and its segments; a test may add files)."""
        return Path(self._dir.name)

    def start(self, timeout: float = 15.0) -> Self:
        """Start writing and serving; returns once the playlist lists two segments."""
        folder = self.folder
        self._ffmpeg = subprocess.Popen(
            [*_live_input(self.clip), "-f", "hls", "-hls_time", "1", "-hls_list_size", "5",
             "-hls_flags", "delete_segments", str(folder / "live.m3u8")],
            stdin=subprocess.DEVNULL,
        )
        self._http = _HttpServer(partial(_Files, directory=str(folder)))
        playlist = folder / "live.m3u8"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if playlist.exists() and playlist.read_text().count("#EXTINF") >= 2:
                return self
            assert self._ffmpeg.poll() is None, "ffmpeg ended while writing the HLS playlist"
            time.sleep(0.1)
        raise RuntimeError(f"no HLS playlist within {timeout} s")

    def stop(self) -> None:
        if self._ffmpeg is not None:
            self._ffmpeg.kill()
            self._ffmpeg.wait(10)
            self._ffmpeg = None
        if self._http is not None:
            self._http.close()
            self._http = None
        self._dir.cleanup()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


class _Flv(BaseHTTPRequestHandler):
    """GET ``/live.flv``: an ffmpeg per client, its FLV copied to the client until either ends."""

    clip: Path
    processes: set[subprocess.Popen]

    def log_message(self, format: str, *args) -> None:
        pass

    def do_GET(self) -> None:
        if self.path.split("?")[0] != "/live.flv":
            self.send_error(404, "no such stream")
            return
        process = subprocess.Popen(
            [*_live_input(self.clip), "-flush_packets", "1", "-f", "flv", "pipe:1"],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
        )
        self.processes.add(process)
        try:
            self.send_response(200)
            self.send_header("Content-Type", "video/x-flv")
            self.send_header("Cache-Control", "no-cache")
            self.end_headers()
            while chunk := process.stdout.read1(65536):
                self.wfile.write(chunk)
                self.wfile.flush()
        except OSError:  # the client went away
            pass
        finally:
            process.kill()
            process.wait(10)
            self.processes.discard(process)


class FlvServer:
    """``clip`` as a live HTTP-FLV stream at ``url`` (``/live.flv``)."""

    def __init__(self, clip: Path) -> None:
        self.clip = Path(clip)
        self._processes: set[subprocess.Popen] = set()
        self._http: _HttpServer | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._http.port}/live.flv"

    def start(self) -> Self:
        handler = type("FlvHandler", (_Flv,), {"clip": self.clip, "processes": self._processes})
        self._http = _HttpServer(handler)
        return self

    def stop(self) -> None:
        for process in list(self._processes):
            process.kill()
        if self._http is not None:
            self._http.close()
            self._http = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
