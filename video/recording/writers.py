"""One segment file being written, with PyAV (the FFmpeg libraries): MP4, index at the front.

:class:`EncodingWriter` encodes BGR frames to H.264 (libx264 where the libraries have it, else
the first H.264 or MPEG-4 encoder they have), timed by wall clock (millisecond timestamps: a
camera's uneven frame rate is kept). :class:`CopyWriter` copies the packets of an H.264 stream
as they are (no re-encode). Both close into a playable file; a writer that failed to close
leaves only its partial file, which is never listed.
"""

from __future__ import annotations

import contextlib
import logging
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np

log = logging.getLogger(__name__)
MP4_OPTIONS = {"movflags": "+faststart"}
MS = Fraction(1, 1000)


def h264_encoder() -> str:
    """The best H.264 encoder the libraries have (MPEG-4 part 2 if none)."""
    for name in ("libx264", "libopenh264", "h264"):
        if name in av.codecs_available:
            with contextlib.suppress(av.FFmpegError, ValueError):  # a decoder-only name
                av.codec.Codec(name, "w")
                return name
    return "mpeg4"


class EncodingWriter:
    """Frames (BGR arrays of one size) into an H.264 MP4 at ``path``; ``start``: the wall-clock
    time of the first frame (epoch seconds)."""

    def __init__(self, path: Path, start: float, size: tuple[int, int], fps: float, *, crf: int = 28,
                 preset: str = "veryfast") -> None:
        self.path = path
        self.start = start
        self.size = size  # (width, height)
        self.last_ms = -1
        self.frames = 0
        self.period = 1 / fps
        self.container = av.open(str(path), "w", format="mp4", options=MP4_OPTIONS)
        codec = h264_encoder()
        self.stream = self.container.add_stream(codec, rate=max(1, round(fps)))
        self.stream.width, self.stream.height = size[0] - size[0] % 2, size[1] - size[1] % 2
        self.stream.pix_fmt = "yuv420p"
        self.stream.codec_context.time_base = MS
        if codec == "libx264":
            self.stream.options = {"preset": preset, "crf": str(crf), "tune": "zerolatency"}

    @property
    def end(self) -> float:
        """The last frame's time plus one frame period."""
        return self.start + max(self.last_ms, 0) / 1000 + self.period

    def write(self, image: np.ndarray, ts: float) -> bool:
        """Add a frame shown at ``ts``; False when ``ts`` is not after the last frame's."""
        pts = round((ts - self.start) * 1000)
        if pts <= self.last_ms:
            return False
        # OpenCV's BGR -> I420 is about 20x faster than PyAV's reformat (swscale) on a 1080p frame
        even = np.ascontiguousarray(image[: self.stream.height, : self.stream.width])
        yuv = cv2.cvtColor(even, cv2.COLOR_BGR2YUV_I420)
        frame = av.VideoFrame.from_ndarray(yuv, format="yuv420p")
        frame.pts, frame.time_base = pts, MS
        self.container.mux(self.stream.encode(frame))
        self.last_ms = pts
        self.frames += 1
        return True

    def close(self) -> float:
        """Flush and close (the file is complete); the segment's end time."""
        try:
            self.container.mux(self.stream.encode(None))
        finally:
            self.container.close()
        return self.end


class CopyWriter:
    """The packets of one H.264 stream, copied into an MP4 at ``path`` (timestamps moved so the
    segment starts at 0); ``start``: when its first frame (a keyframe) is shown, epoch seconds."""

    def __init__(self, path: Path, start: float, template: av.video.stream.VideoStream) -> None:
        self.path = path
        self.start = start
        self.container = av.open(str(path), "w", format="mp4", options=MP4_OPTIONS)
        self.stream = self.container.add_stream_from_template(template)
        self.time_base = template.time_base
        self.first: int | None = None  # the first packet's dts: the segment's timestamps start there
        self.first_pts = 0  # the first frame shown (the keyframe), relative to ``first``
        self.last_end = 0  # the end of the last frame shown, relative to ``first``
        self.packets = 0

    @property
    def duration(self) -> float:
        return float((self.last_end - self.first_pts) * self.time_base)

    @property
    def end(self) -> float:
        return self.start + self.duration

    def write(self, packet: av.Packet) -> None:
        if self.first is None:
            self.first = packet.dts
            self.first_pts = (packet.pts if packet.pts is not None else packet.dts) - packet.dts
        packet.dts -= self.first
        packet.pts = packet.dts if packet.pts is None else packet.pts - self.first
        self.last_end = max(self.last_end, packet.pts + (packet.duration or 0))
        packet.stream = self.stream
        self.container.mux(packet)
        self.packets += 1

    def close(self) -> float:
        self.container.close()
        return self.end
