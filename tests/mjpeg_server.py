"""A real MJPEG-over-HTTP camera for tests: ``multipart/x-mixed-replace`` JPEG frames on 127.0.0.1.

Each frame shows a moving white square and its frame number. ``stop()`` closes the listening
socket and drops every client (an outage); ``start()`` serves again on the same port.

>>> server = MjpegServer(fps=20).start()
>>> server.url.startswith("http://127.0.0.1:")
True
>>> server.stop()
"""

from __future__ import annotations

import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Self

import cv2
import numpy as np

BOUNDARY = "zhizhiframe"


def render_frame(number: int, width: int = 320, height: int = 240) -> np.ndarray:
    """A BGR test picture: a white square moving left to right and the frame number."""
    image = np.full((height, width, 3), (60, 90, 60), np.uint8)
    x = (number * 7) % max(width - 40, 1)
    cv2.rectangle(image, (x, height // 2 - 20), (x + 40, height // 2 + 20), (255, 255, 255), -1)
    cv2.putText(image, str(number), (8, 28), cv2.FONT_HERSHEY_SIMPLEX, 0.9, (0, 255, 255), 2)
    return image


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    owner: MjpegServer


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, format: str, *args) -> None:  # keep test output quiet
        pass

    def do_GET(self) -> None:
        owner = self.server.owner
        if self.path.split("?")[0] not in owner.paths:
            self.send_error(404, "no such stream")
            return
        self.send_response(200)
        self.send_header("Content-Type", f"multipart/x-mixed-replace; boundary={BOUNDARY}")
        self.send_header("Cache-Control", "no-cache")
        self.end_headers()
        owner._register(self.connection)
        try:
            while not owner._stopping.is_set():
                jpeg = owner._next_jpeg()
                head = (
                    f"--{BOUNDARY}\r\nContent-Type: image/jpeg\r\n"
                    f"Content-Length: {len(jpeg)}\r\n\r\n"
                ).encode()
                self.wfile.write(head + jpeg + b"\r\n")
                self.wfile.flush()
                owner._stopping.wait(1.0 / owner.fps)
        except OSError:  # the client went away or stop() cut the connection
            pass
        finally:
            owner._unregister(self.connection)


class MjpegServer:
    """An MJPEG stream at ``url`` served from a background thread."""

    def __init__(
        self,
        *,
        fps: float = 25.0,
        size: tuple[int, int] = (320, 240),
        port: int = 0,
        paths: tuple[str, ...] = ("/video.mjpg",),
    ) -> None:
        self.fps = fps
        self.size = size
        self.port = port
        self.paths = paths
        self.frames_sent = 0
        self._lock = threading.Lock()
        self._clients: set[socket.socket] = set()
        self._stopping = threading.Event()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}{self.paths[0]}"

    def start(self) -> MjpegServer:
        """Listen (on the same port as before after a ``stop()``) and serve in a thread."""
        if self._server is not None:
            return self
        self._stopping.clear()
        deadline = time.monotonic() + 5.0
        while True:
            try:
                server = _Server(("127.0.0.1", self.port), _Handler)
                break
            except OSError:  # the old socket may linger for a moment
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        server.owner = self
        self.port = server.server_address[1]
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.05},
            daemon=True,
            name=f"mjpeg-server-{self.port}",
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Close the listening socket and cut every client connection."""
        server, self._server = self._server, None
        if server is None:
            return
        self._stopping.set()
        server.shutdown()
        server.server_close()
        with self._lock:
            clients = list(self._clients)
        for conn in clients:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def _next_jpeg(self) -> bytes:
        with self._lock:
            number = self.frames_sent
            self.frames_sent += 1
        ok, buf = cv2.imencode(
            ".jpg", render_frame(number, *self.size), [cv2.IMWRITE_JPEG_QUALITY, 80]
        )
        assert ok
        return buf.tobytes()

    def _register(self, conn: socket.socket) -> None:
        with self._lock:
            self._clients.add(conn)

    def _unregister(self, conn: socket.socket) -> None:
        with self._lock:
            self._clients.discard(conn)
