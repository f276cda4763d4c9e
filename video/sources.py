"""Frame sources: video files, RTSP/HTTP streams, MJPEG over HTTP and image folders.

Every source has the same small shape (:class:`FrameSource`): ``open()`` raises
:class:`SourceError` with a message a duty officer can act on, ``read()`` gives the next BGR
picture or ``None`` when the file ended or the stream was lost (``source.error`` says why),
``close()`` frees it. ``open()`` already reads the first frame, so a source that opened
delivers. Sources are not thread-safe; :class:`video.runner.SourceRunner` drives one per thread.

>>> from zhizhi.video.camera_config import SourceConfig
>>> source = open_source(SourceConfig(url="/no/such/clip.mp4"), "CAM-0001")
>>> try:
...     source.open()
... except SourceError as exc:
...     print(exc)
file not found: /no/such/clip.mp4
"""

from __future__ import annotations

import logging
import os
import re
import socket
import threading
import time
from collections import deque
from pathlib import Path
from typing import Protocol, runtime_checkable
from urllib.parse import urlsplit

import cv2
import numpy as np

from zhizhi.layers.camera_registry import mask_stream_url
from zhizhi.video.camera_config import SourceConfig
from zhizhi.video.stream_probe import server_reason

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp")
DEFAULT_IMAGE_FPS = 1.0
MAX_FPS = 240.0
# FFmpeg's options for network streams (OPENCV_FFMPEG_CAPTURE_OPTIONS, read at every open; one
# set for the whole process, so a value set beforehand wins). RTSP over TCP: UDP loses packets
# (smeared frames) and rarely passes firewalls/NAT. Probing 1 s instead of 5 s: the codec
# parameters come with a stream's first packets (RTSP's SDP, FLV's sequence header, a TS
# keyframe), and FFmpeg's FLV reader otherwise waits the whole 5 s for streams that may appear,
# which made every HTTP-FLV open (and reconnect) take 5 s.
FFMPEG_CAPTURE_OPTIONS = "rtsp_transport;tcp|analyzeduration;1000000"


class SourceError(RuntimeError):
    """A source that cannot be opened or read; the message is meant for people."""


@runtime_checkable
class FrameSource(Protocol):
    """What :class:`video.runner.SourceRunner` needs from a source.

    Optional extras the runner looks for: ``error`` (why ``read()`` gave ``None``), ``ended``
    (a finite source reached its end), ``realtime`` (False: frames come as fast as they decode,
    so time them by position) and ``interrupt()`` (unblock a read from another thread).
    """

    fps: float | None

    def open(self) -> None: ...

    def read(self) -> np.ndarray | None: ...

    def close(self) -> None: ...


def open_source(
    config: SourceConfig,
    camera_id: str,
    *,
    open_timeout_s: float = 5.0,
    read_timeout_s: float = 5.0,
    stop: threading.Event | None = None,
) -> FrameSource:
    """The (not yet opened) source for ``config``; ``stop`` cuts real-time pacing waits short.

    >>> type(open_source(SourceConfig(url="rtsp://10.0.0.9/live"), "CAM-0002")).__name__
    'StreamSource'
    """
    kind = config.resolved_kind
    if kind == "file":
        return FileSource(config, camera_id, stop=stop)
    if kind == "images":
        return ImageFolderSource(config, camera_id, stop=stop)
    if kind == "mjpeg":
        return MjpegSource(
            config, camera_id, open_timeout_s=open_timeout_s, read_timeout_s=read_timeout_s
        )
    return StreamSource(
        config, camera_id, open_timeout_s=open_timeout_s, read_timeout_s=read_timeout_s, stop=stop
    )


def redact_url(url: str) -> str:
    """``url`` without its password, for messages and logs.

    >>> redact_url("rtsp://admin:secret@10.0.0.9:554/live")
    'rtsp://admin:***@10.0.0.9:554/live'
    >>> redact_url("rtsp://admin:se/cr@t@10.0.0.9:554/live?pwd=x")  # (the camera registry's masking)
    'rtsp://admin:***@10.0.0.9:554/live?pwd=***'
    """
    return mask_stream_url(url) or url


def describe_error(exc: BaseException) -> str:
    """A short reason for a network error: "connection refused", "timed out", ...

    >>> describe_error(ConnectionRefusedError(111, "Connection refused"))
    'connection refused'
    """
    seen: BaseException | None = exc
    chain = []
    while seen is not None and len(chain) < 8:
        chain.append(seen)
        seen = seen.__cause__ or seen.__context__
    for err in chain:
        if isinstance(err, ConnectionRefusedError):
            return "connection refused"
        if isinstance(err, socket.gaierror):
            return "host not found"
        if isinstance(err, ConnectionResetError):
            return "connection reset"
        if isinstance(err, TimeoutError | socket.timeout) or "Timeout" in type(err).__name__:
            return "timed out"
    text = str(exc).lower()
    for needle, reason in (
        ("connection refused", "connection refused"),
        ("name or service not known", "host not found"),
        ("temporary failure in name resolution", "host not found"),
        ("timed out", "timed out"),
        ("network is unreachable", "network unreachable"),
        ("no route to host", "no route to host"),
    ):
        if needle in text:
            return reason
    return str(exc) or type(exc).__name__


class _Paced:
    """Real-time pacing: ``wait()`` returns once the next frame at ``fps`` is due."""

    def __init__(self, fps: float | None, stop: threading.Event | None) -> None:
        self.interval = 1.0 / fps if fps else 0.0
        self._stop = stop
        self._next: float | None = None

    def wait(self) -> None:
        if not self.interval:
            return
        now = time.monotonic()
        if self._next is None or now - self._next > 1.0:  # first frame, or far behind: no burst
            self._next = now
        delay = self._next - now
        if delay > 0:
            if self._stop is not None:
                self._stop.wait(delay)
            else:
                time.sleep(delay)
        self._next += self.interval


class _PtsPaced:
    """Pacing by presentation time: ``wait(pts)`` returns once a frame ``pts`` seconds into the
    stream is due, the first frame (or one more than ``max_lag_s`` late, or a jump in the
    timestamps) setting the clock; late frames never wait."""

    def __init__(self, stop: threading.Event | None, max_lag_s: float = 1.0, max_wait_s: float = 5.0) -> None:
        self._stop = stop
        self.max_lag_s = max_lag_s
        self.max_wait_s = max_wait_s
        self._origin: float | None = None  # monotonic time of pts 0
        self._last = 0.0

    def wait(self, pts: float) -> None:
        now = time.monotonic()
        if self._origin is not None and pts >= self._last:
            delay = self._origin + pts - now
        else:
            delay = None
        if delay is None or delay < -self.max_lag_s or delay > self.max_wait_s:
            self._origin, delay = now - pts, 0.0
        self._last = pts
        if delay > 0:
            if self._stop is not None:
                self._stop.wait(delay)
            else:
                time.sleep(delay)


class _Source:
    """Shared defaults of the sources here."""

    fps: float | None = None
    error: str | None = None
    ended: bool = False
    realtime: bool = True

    def interrupt(self) -> None:
        """Unblock a ``read()`` waiting on the network (called from another thread)."""

    def __enter__(self):
        self.open()
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _sane_fps(value: float) -> float | None:
    return float(value) if 0 < value <= MAX_FPS else None


class FileSource(_Source):
    """A video file through ``cv2.VideoCapture``; ``loop`` starts over, ``realtime`` paces."""

    def __init__(
        self, config: SourceConfig, camera_id: str, *, stop: threading.Event | None = None
    ):
        self.path = config.url
        self.camera_id = camera_id
        self.loop = config.loop
        self.realtime = config.realtime
        self._stop = stop
        self._cap: cv2.VideoCapture | None = None
        self._pending: np.ndarray | None = None
        self._pace: _Paced | None = None

    def open(self) -> None:
        path = Path(self.path)
        if not path.exists():
            raise SourceError(f"file not found: {self.path}")
        if path.is_dir():
            raise SourceError(f"cannot decode video: {self.path} (a folder, not a video file)")
        if not os.access(path, os.R_OK):
            raise SourceError(f"cannot read file: {self.path} (permission denied)")
        self.close()
        self.error, self.ended = None, False
        cap = cv2.VideoCapture(str(path))
        ok, image = cap.read() if cap.isOpened() else (False, None)
        if not ok or image is None:
            cap.release()
            raise SourceError(f"cannot decode video: {self.path} (not a video or corrupt)")
        self._cap, self._pending = cap, image
        self.fps = _sane_fps(cap.get(cv2.CAP_PROP_FPS))
        self._pace = _Paced(self.fps if self.realtime else None, self._stop)

    def read(self) -> np.ndarray | None:
        if self._cap is None:
            return None
        image, self._pending = self._pending, None
        if image is None:
            image = self._next()
        if image is not None and self._pace is not None:
            self._pace.wait()
        return image

    def _next(self) -> np.ndarray | None:
        ok, image = self._cap.read()
        if ok:
            return image
        if not self.loop:
            self.ended, self.error = True, "end of file"
            return None
        # Start over: seek, or reopen where the container cannot seek.
        ok = self._cap.set(cv2.CAP_PROP_POS_FRAMES, 0)
        if ok:
            ok, image = self._cap.read()
        if not ok:
            self._cap.release()
            self._cap = cv2.VideoCapture(self.path)
            ok, image = self._cap.read() if self._cap.isOpened() else (False, None)
        if not ok:
            self.error = f"cannot decode video: {self.path} (failed when starting over)"
            return None
        return image

    def close(self) -> None:
        if self._cap is not None:
            self._cap.release()
            self._cap = None
        self._pending = None


class ImageFolderSource(_Source):
    """The jpg/png/bmp pictures of a folder in name order at ``fps`` (default 1); may loop."""

    def __init__(
        self, config: SourceConfig, camera_id: str, *, stop: threading.Event | None = None
    ):
        self.folder = Path(config.url)
        self.camera_id = camera_id
        self.loop = config.loop
        self.realtime = config.realtime
        self.fps = config.fps or DEFAULT_IMAGE_FPS
        self._stop = stop
        self._files: deque[Path] = deque()
        self._pending: np.ndarray | None = None
        self._pace = _Paced(self.fps if self.realtime else None, stop)
        self._opened = False

    def _scan(self) -> deque[Path]:
        files = [
            p for p in self.folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file()
        ]
        return deque(sorted(files, key=lambda p: p.name))

    def open(self) -> None:
        if not self.folder.exists():
            raise SourceError(f"folder not found: {self.folder}")
        if not self.folder.is_dir():
            raise SourceError(f"not a folder: {self.folder}")
        self.error, self.ended = None, False
        try:
            self._files = self._scan()
        except OSError as exc:
            raise SourceError(f"cannot list folder: {self.folder} ({exc.strerror or exc})") from exc
        if not self._files:
            raise SourceError(f"no images (jpg/png/bmp) in folder: {self.folder}")
        self._opened = True
        self._pending = self._next()
        if self._pending is None:
            self._opened = False
            raise SourceError(f"cannot decode images in folder: {self.folder} ({self.error})")

    def _next(self) -> np.ndarray | None:
        rescanned = False
        while True:
            if not self._files:
                if not self.loop or rescanned:
                    self.ended = not self.loop
                    self.error = "end of images" if not self.loop else "no readable images left"
                    return None
                self._files = self._scan()  # a new pass picks up pictures added meanwhile
                rescanned = True
                continue
            path = self._files.popleft()
            image = cv2.imread(str(path), cv2.IMREAD_COLOR)
            if image is not None:
                return image
            log.warning("camera %s: skipping unreadable image %s", self.camera_id, path)

    def read(self) -> np.ndarray | None:
        if not self._opened:
            return None
        image, self._pending = self._pending, None
        if image is None:
            image = self._next()
        if image is not None:
            self._pace.wait()
        return image

    def close(self) -> None:
        self._opened = False
        self._files.clear()
        self._pending = None


def _probe(url: str, timeout_s: float) -> str | None:
    """Why ``url`` cannot be reached (``None``: the server answers on its port)."""
    parts = urlsplit(url)
    default = {"rtsp": 554, "rtsps": 322, "https": 443}.get(parts.scheme.lower(), 80)
    try:
        port = parts.port or default
    except ValueError:
        return "bad port in URL"
    if not parts.hostname:
        return "no host in URL"
    try:
        with socket.create_connection((parts.hostname, port), timeout=timeout_s):
            return None
    except OSError as exc:
        return describe_error(exc)


class _NetworkSource(_Source):
    """A source behind a URL, with open and read timeouts."""

    def __init__(
        self,
        config: SourceConfig,
        camera_id: str,
        *,
        open_timeout_s: float = 5.0,
        read_timeout_s: float = 5.0,
    ):
        self.url = config.url
        self.camera_id = camera_id
        self.open_timeout_s = open_timeout_s
        self.read_timeout_s = read_timeout_s


class StreamSource(_NetworkSource):
    """An RTSP or HTTP(S) stream through OpenCV's FFmpeg backend, with open and read timeouts.

    HLS (a ``.m3u8`` URL) is paced by the frames' presentation times: FFmpeg hands out a whole
    segment's frames at once, and a worker keeping only the newest frame would analyse one frame
    a segment. RTSP and HTTP-FLV arrive as they happen and are not paced (a burst after opening is
    frames buffered while probing: they are skipped through, not delayed).
    """

    def __init__(
        self, config: SourceConfig, camera_id: str, *, stop: threading.Event | None = None, **timeouts: float
    ):
        super().__init__(config, camera_id, **timeouts)
        self._cap: cv2.VideoCapture | None = None
        self._pending: np.ndarray | None = None
        self._stop = stop
        self._pace: _PtsPaced | None = None
        self.paced = urlsplit(self.url).path.lower().endswith(".m3u8")

    def open(self) -> None:
        self.close()
        self.error = None
        shown = redact_url(self.url)
        params = [
            cv2.CAP_PROP_OPEN_TIMEOUT_MSEC,
            int(self.open_timeout_s * 1000),
            cv2.CAP_PROP_READ_TIMEOUT_MSEC,
            int(self.read_timeout_s * 1000),
        ]
        os.environ.setdefault("OPENCV_FFMPEG_CAPTURE_OPTIONS", FFMPEG_CAPTURE_OPTIONS)
        cap = cv2.VideoCapture(self.url, cv2.CAP_FFMPEG, params)
        if not cap.isOpened():
            cap.release()
            reason = _probe(self.url, self.open_timeout_s)
            if reason is not None:
                raise SourceError(f"stream unreachable: {shown} ({reason})")
            reason = server_reason(self.url, self.open_timeout_s)
            raise SourceError(f"cannot open stream: {shown} ({reason})")
        ok, image = cap.read()
        if not ok or image is None:
            cap.release()
            raise SourceError(
                f"cannot decode stream: {shown} (no frame within {self.read_timeout_s:g} s)"
            )
        self._cap, self._pending = cap, image
        self.fps = _sane_fps(cap.get(cv2.CAP_PROP_FPS))
        self._pace = _PtsPaced(self._stop) if self.paced else None
        self._paced_wait()

    def _paced_wait(self) -> None:
        if self._pace is not None:
            self._pace.wait(self._cap.get(cv2.CAP_PROP_POS_MSEC) / 1000.0)

    def read(self) -> np.ndarray | None:
        if self._cap is None:
            return None
        if self._pending is not None:
            image, self._pending = self._pending, None
            return image
        started = time.monotonic()
        ok, image = self._cap.read()
        if not ok or image is None:
            shown = redact_url(self.url)
            if time.monotonic() - started >= 0.9 * self.read_timeout_s:
                self.error = f"stream lost: {shown} (no frame within {self.read_timeout_s:g} s)"
            else:
                self.error = f"stream lost: {shown} (the server ended the stream or dropped the connection)"
            return None
        self._paced_wait()
        return image

    def close(self) -> None:
        if self._cap is not None:
            self._cap.release()
            self._cap = None
        self._pending = None


_SOI, _EOI = b"\xff\xd8", b"\xff\xd9"
_CONTENT_LENGTH = re.compile(rb"content-length:\s*(\d+)", re.IGNORECASE)
_MAX_PART = 32 * 1024 * 1024


class MultipartJpegParser:
    """Splits an MJPEG byte stream into JPEG pictures.

    A part's ``Content-Length`` is used when given, else the next boundary, else (no boundary
    known) the JPEG end marker.

    >>> p = MultipartJpegParser("frame")
    >>> part = b"--frame\\r\\nContent-Type: image/jpeg\\r\\n\\r\\n\\xff\\xd8abc\\xff\\xd9\\r\\n"
    >>> p.feed(part), p.feed(b"--frame\\r\\n")
    ([], [b'\\xff\\xd8abc\\xff\\xd9'])
    """

    def __init__(self, boundary: str | None) -> None:
        token = (boundary or "").strip().strip('"').lstrip("-")
        self.boundary = b"--" + token.encode("latin-1") if token else None
        self._buf = bytearray()

    def feed(self, data: bytes) -> list[bytes]:
        """Add received bytes; return the pictures completed by them."""
        self._buf += data
        pictures = []
        while (picture := self._take()) is not None:
            pictures.append(picture)
        if len(self._buf) > _MAX_PART:
            self._buf.clear()
            raise SourceError(f"no picture in {_MAX_PART // 2**20} MiB of stream data (not MJPEG?)")
        return pictures

    def _take(self) -> bytes | None:
        buf = self._buf
        soi = buf.find(_SOI)
        if soi < 0:
            del buf[: max(len(buf) - 1, 0)]  # keep a byte in case a marker was split
            return None
        match = None
        for match in _CONTENT_LENGTH.finditer(buf, 0, soi):
            pass
        if match is not None:
            end = soi + int(match.group(1))
            if len(buf) < end:
                return None
        elif self.boundary is not None:
            end = buf.find(self.boundary, soi + 2)
            if end < 0:
                return None
            while end > soi and buf[end - 1] in b"\r\n-":
                end -= 1
        else:
            end = buf.find(_EOI, soi + 2)
            if end < 0:
                return None
            end += 2
        picture = bytes(buf[soi:end])
        del buf[:end]
        return picture


class MjpegSource(_NetworkSource):
    """An MJPEG camera (``multipart/x-mixed-replace`` over HTTP) read with httpx streaming.

    Gives clearer errors than FFmpeg (connection refused, HTTP status, wrong content type) and
    ``interrupt()`` unblocks a waiting read at once.
    """

    def __init__(self, config: SourceConfig, camera_id: str, **timeouts: float):
        super().__init__(config, camera_id, **timeouts)
        self._client = None
        self._response = None
        self._chunks = None
        self._sock: socket.socket | None = None
        self._parser: MultipartJpegParser | None = None
        self._pictures: deque[bytes] = deque()
        self._pending: np.ndarray | None = None

    def open(self) -> None:
        import httpx

        self.close()
        self.error = None
        shown = redact_url(self.url)
        timeout = httpx.Timeout(self.read_timeout_s, connect=self.open_timeout_s)
        self._client = httpx.Client(timeout=timeout, follow_redirects=True)
        try:
            request = self._client.build_request("GET", self.url)
            self._response = response = self._client.send(request, stream=True)
        except Exception as exc:  # network errors, and httpx.InvalidURL for malformed URLs
            self.close()
            raise SourceError(f"stream unreachable: {shown} ({describe_error(exc)})") from exc
        if response.status_code != 200:
            self.close()
            code = f"HTTP {response.status_code} {response.reason_phrase}"
            raise SourceError(f"stream unreachable: {shown} ({code})")
        ctype = response.headers.get("content-type", "")
        boundary = None
        if ctype.lower().startswith("multipart/"):
            found = re.search(r'boundary\s*=\s*("[^"]*"|[^;\s]+)', ctype, re.IGNORECASE)
            boundary = found.group(1) if found else None
        elif ctype and not ctype.lower().startswith(("image/", "application/octet-stream")):
            self.close()
            raise SourceError(f"not an MJPEG stream: {shown} (content type {ctype.split(';')[0]})")
        stream = response.extensions.get("network_stream")
        self._sock = stream.get_extra_info("socket") if stream is not None else None
        self._parser = MultipartJpegParser(boundary)
        self._chunks = response.iter_bytes()
        self._pending, reason = self._read()
        if self._pending is None:
            self.close()
            raise SourceError(f"cannot decode stream: {shown} ({reason})")

    def _read(self) -> tuple[np.ndarray | None, str]:
        """The next picture, or None and why not."""
        import httpx

        bad = 0
        while True:
            while not self._pictures:
                try:
                    self._pictures.extend(self._parser.feed(next(self._chunks)))
                except StopIteration:
                    return None, "connection closed by the camera"
                except SourceError as exc:
                    return None, str(exc)
                except httpx.ReadTimeout:
                    return None, f"no data for {self.read_timeout_s:g} s"
                except (httpx.HTTPError, httpx.StreamError, OSError) as exc:
                    return None, describe_error(exc)
            data = np.frombuffer(self._pictures.popleft(), np.uint8)
            image = cv2.imdecode(data, cv2.IMREAD_COLOR)
            if image is not None:
                return image, ""
            bad += 1
            if bad >= 25:
                return None, "no decodable JPEG in 25 parts: not MJPEG or corrupt"

    def read(self) -> np.ndarray | None:
        if self._chunks is None:
            return None
        if self._pending is not None:
            image, self._pending = self._pending, None
            return image
        image, reason = self._read()
        if image is None:
            self.error = f"stream lost: {redact_url(self.url)} ({reason})"
        return image

    def interrupt(self) -> None:
        sock = self._sock
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def close(self) -> None:
        for closable in (self._response, self._client):
            if closable is not None:
                try:
                    closable.close()
                except Exception:  # closing a broken connection may raise; it is gone either way
                    log.debug(
                        "camera %s: error while closing the stream", self.camera_id, exc_info=True
                    )
        self._response = self._client = self._chunks = self._sock = None
        self._pictures.clear()
        self._pending = None
