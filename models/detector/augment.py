"""What a real surveillance feed does to a picture, applied offline to training images.

Night (dark, low contrast, blue-grey cast, headlight and lamp glare), rain (the simulator's own
streaks and contrast loss, :func:`video.simulator.variation.apply_rain`), glare and bloom (bright
areas bleed, a veil of scattered light), a real H.264 round trip at a low quality (libx264
through PyAV, without the deblocking filter when the preset is ``ultrafast``: the blocking of a
starved encoder) or, without PyAV, JPEG blocking, sensor noise and motion blur.

Every effect keeps the geometry (motion blur smears a few pixels along a line), so YOLO labels
stay as they are. Everything is drawn from the ``rng`` passed in: the same seed gives the same
picture.

>>> import numpy as np
>>> image = np.full((40, 60, 3), 120, np.uint8)
>>> a, done = augment_image(image, np.random.default_rng(1), AugmentOptions(p_night=1.0))
>>> "night" in done and bool(a.mean() < image.mean())
True
"""

from __future__ import annotations

import io
import math

import cv2
import numpy as np
from numpy.typing import NDArray
from pydantic import BaseModel, ConfigDict, Field

from zhizhi.video.simulator.variation import apply_rain

Image = NDArray[np.uint8]


class AugmentOptions(BaseModel):
    """Which share of the images is degraded, and how often each effect is applied to one of them."""

    model_config = ConfigDict(extra="forbid")

    share: float = Field(0.5, ge=0, le=1, description="Share of the images that are augmented at all.")
    p_night: float = Field(0.25, ge=0, le=1, description="Dark, low contrast, headlight/lamp glare.")
    p_rain: float = Field(0.2, ge=0, le=1, description="Rain streaks and contrast loss.")
    p_glare: float = Field(0.15, ge=0, le=1, description="Bloom around bright areas and a veil of stray light.")
    p_codec: float = Field(
        0.4, ge=0, le=1, description="An H.264 round trip at low quality (JPEG blocking without PyAV)."
    )
    p_noise: float = Field(0.35, ge=0, le=1, description="Gaussian sensor noise.")
    p_motion_blur: float = Field(0.2, ge=0, le=1, description="Linear motion blur (a slow shutter).")
    crf: tuple[int, int] = Field((32, 46), description="libx264 constant-rate factor range (higher: worse).")


def augment_image(image: Image, rng: np.random.Generator, options: AugmentOptions) -> tuple[Image, list[str]]:
    """The augmented copy of ``image`` (BGR) and the effects applied, in order.

    The draws are the same whatever is applied, so one effect's probability does not change the
    others' outcome for the same seed.
    """
    draws = rng.random(6)
    seeds = rng.integers(0, 2**31, size=6)
    out = image.copy()
    done: list[str] = []
    night = bool(draws[0] < options.p_night)
    if night:
        out = night_view(out, np.random.default_rng(seeds[0]))
        done.append("night")
    if draws[1] < options.p_rain:
        r = np.random.default_rng(seeds[1])
        apply_rain(out, float(r.uniform(0.3, 1.0)), r, night)
        done.append("rain")
    if draws[2] < options.p_glare:
        out = glare(out, np.random.default_rng(seeds[2]))
        done.append("glare")
    if draws[3] < options.p_motion_blur:
        out = motion_blur(out, np.random.default_rng(seeds[3]))
        done.append("motion_blur")
    if draws[4] < options.p_noise:
        out = sensor_noise(out, np.random.default_rng(seeds[4]))
        done.append("noise")
    if draws[5] < options.p_codec:
        r = np.random.default_rng(seeds[5])
        out, how = low_bitrate(out, r, options.crf)
        done.append(how)
    return out, done


def night_view(image: Image, rng: np.random.Generator) -> Image:
    """Dark, flat and blue-grey, with a few lamps or headlights glaring (a night camera)."""
    f = image.astype(np.float32) / 255.0
    gamma = float(rng.uniform(1.6, 2.6))
    level = float(rng.uniform(0.25, 0.5))
    f = np.power(f, gamma) * level + float(rng.uniform(0.02, 0.06))  # crushed shadows, lifted black
    tint = np.array([1.15, 1.0, 0.85], np.float32) if rng.random() < 0.6 else np.array([0.8, 0.95, 1.15], np.float32)
    f *= tint
    h, w = image.shape[:2]
    glow = np.zeros((h, w), np.float32)
    for _ in range(int(rng.integers(0, 5))):
        cx, cy = float(rng.uniform(0, w)), float(rng.uniform(0, h))
        radius = float(rng.uniform(0.01, 0.05)) * max(h, w)
        _radial(glow, cx, cy, radius, float(rng.uniform(0.6, 1.2)))
    if glow.any():
        f += glow[..., None] * np.array([0.95, 1.0, 1.0], np.float32)
    return np.clip(f * 255.0, 0, 255).astype(np.uint8)


def glare(image: Image, rng: np.random.Generator) -> Image:
    """Bright areas bleed into their surroundings, and a veil of stray light lowers contrast."""
    f = image.astype(np.float32) / 255.0
    grey = f.mean(axis=2)
    bright = np.clip((grey - 0.7) / 0.3, 0, 1)
    h, w = image.shape[:2]
    sigma = float(rng.uniform(0.01, 0.03)) * max(h, w)
    bloom = cv2.GaussianBlur(bright, (0, 0), sigma) * float(rng.uniform(0.5, 1.2))
    veil = np.zeros((h, w), np.float32)
    _radial(veil, float(rng.uniform(0, w)), float(rng.uniform(0, h * 0.6)), float(rng.uniform(0.2, 0.6)) * max(h, w),
            float(rng.uniform(0.15, 0.45)))
    f = f + (bloom + veil)[..., None]
    return np.clip(f * 255.0, 0, 255).astype(np.uint8)


def motion_blur(image: Image, rng: np.random.Generator) -> Image:
    """A linear blur of 3 to 9 pixels at a random angle."""
    length = int(rng.integers(3, 10))
    angle = float(rng.uniform(0, math.pi))
    kernel = np.zeros((length, length), np.float32)
    c = (length - 1) / 2.0
    dx, dy = math.cos(angle) * c, math.sin(angle) * c
    cv2.line(kernel, (round(c - dx), round(c - dy)), (round(c + dx), round(c + dy)), 1.0, 1)
    kernel /= max(float(kernel.sum()), 1e-6)
    return cv2.filter2D(image, -1, kernel, borderType=cv2.BORDER_REFLECT)


def sensor_noise(image: Image, rng: np.random.Generator) -> Image:
    """Gaussian noise of sigma 3 to 12 grey levels, a little stronger in the dark (shot noise)."""
    sigma = float(rng.uniform(3.0, 12.0))
    f = image.astype(np.float32)
    dark = 1.0 + 0.6 * (1.0 - f.mean(axis=2, keepdims=True) / 255.0)
    f += rng.normal(0.0, sigma, size=image.shape).astype(np.float32) * dark
    return np.clip(f, 0, 255).astype(np.uint8)


def low_bitrate(image: Image, rng: np.random.Generator, crf: tuple[int, int] = (32, 46)) -> tuple[Image, str]:
    """An H.264 round trip at a starved quality (``"h264"``), else JPEG blocking (``"jpeg"``)."""
    value = int(rng.integers(crf[0], crf[1] + 1))
    preset = "ultrafast" if rng.random() < 0.5 else "veryfast"
    quality = int(rng.integers(8, 25))
    try:
        return h264_roundtrip(image, value, preset), "h264"
    except ImportError:
        _ok, data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
        return cv2.imdecode(data, cv2.IMREAD_COLOR), "jpeg"


def h264_roundtrip(image: Image, crf: int, preset: str = "veryfast") -> Image:
    """``image`` encoded as a one-frame H.264 stream by libx264 (PyAV) and decoded again."""
    import av

    h, w = image.shape[:2]
    padded = cv2.copyMakeBorder(image, 0, h % 2, 0, w % 2, cv2.BORDER_REPLICATE)  # yuv420p: even sizes
    buffer = io.BytesIO()
    with av.open(buffer, "w", format="mp4") as out:
        stream = out.add_stream("libx264", rate=10)
        stream.width, stream.height = padded.shape[1], padded.shape[0]
        stream.pix_fmt = "yuv420p"
        stream.options = {"crf": str(crf), "preset": preset, "threads": "1"}
        for packet in stream.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(padded), format="bgr24")):
            out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    buffer.seek(0)
    with av.open(buffer, "r") as source:
        frame = next(source.decode(video=0)).to_ndarray(format="bgr24")
    return np.ascontiguousarray(frame[:h, :w])


def _radial(canvas: NDArray[np.float32], cx: float, cy: float, radius: float, strength: float) -> None:
    """Add a soft round glow (gaussian fall-off) to ``canvas`` in place, within 3 radii."""
    h, w = canvas.shape
    x0, x1 = max(int(cx - 3 * radius), 0), min(int(cx + 3 * radius) + 1, w)
    y0, y1 = max(int(cy - 3 * radius), 0), min(int(cy + 3 * radius) + 1, h)
    if x1 <= x0 or y1 <= y0:
        return
    yy, xx = np.mgrid[y0:y1, x0:x1].astype(np.float32)
    d2 = ((xx - cx) ** 2 + (yy - cy) ** 2) / max(radius * radius, 1e-6)
    canvas[y0:y1, x0:x1] += strength * np.exp(-0.5 * d2)
