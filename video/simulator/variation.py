"""Scene variation: light level and colour, night, rain, sensor noise and camera shake.

Every field left ``None`` is drawn from the seed (:meth:`Variation.resolve`), so a seed always
gives the same look; any field set explicitly is kept. Light is applied to colours as they are
drawn (no full-frame pass); rain and noise are cheap full-frame passes after drawing.

>>> import numpy as np
>>> v = Variation(night=True).resolve(np.random.default_rng(3))
>>> v.night, v.rain is not None, v.resolved
(True, True, True)
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np
from numpy.typing import NDArray
from pydantic import BaseModel, ConfigDict, Field

from zhizhi.video.simulator.objects import (
    GLASS,
    HEAD,
    LAMP,
    PLACARD,
    REFLECTOR,
    SHADOW,
    TAIL,
    WINDOW,
)

Float = NDArray[np.float64]


class Variation(BaseModel):
    """How a clip looks; ``None`` fields are chosen from the seed."""

    model_config = ConfigDict(frozen=True)

    brightness: float | None = Field(None, ge=0.4, le=1.6, description="Light level, 1 = ordinary daylight.")
    color_temp: float | None = Field(None, ge=-1.0, le=1.0, description="-1 cold (blue) .. +1 warm (orange) light.")
    night: bool | None = Field(None, description="Dark scene with vehicle lights and street lamps.")
    rain: float | None = Field(None, ge=0.0, le=1.0, description="Rain intensity: streaks, lower contrast; 0 = dry.")
    noise: float | None = Field(None, ge=0.0, le=25.0, description="Gaussian sensor noise, sigma in grey levels.")
    shake: float | None = Field(None, ge=0.0, le=8.0, description="Camera jitter amplitude in pixels; 0 = steady.")

    @property
    def resolved(self) -> bool:
        return all(getattr(self, name) is not None for name in type(self).model_fields)

    def resolve(
        self, rng: np.random.Generator, *, p_night: float = 0.2, p_rain: float = 0.2, p_noise: float = 0.5,
        p_shake: float = 0.25,
    ) -> Variation:
        """Fill the unset fields from ``rng`` (always drawing the same numbers, set or not)."""
        draws = rng.random(10)
        night = bool(draws[0] < p_night)
        drawn = {
            "night": night,
            "brightness": float(0.8 + 0.35 * draws[1]),
            "color_temp": float(-0.4 + 0.8 * draws[2]),
            "rain": float(0.3 + 0.7 * draws[4]) if draws[3] < p_rain else 0.0,
            "noise": float(1.5 + 5.0 * draws[6]) if draws[5] < p_noise else 0.0,
            "shake": float(1.0 + 2.5 * draws[8]) if draws[7] < p_shake else 0.0,
        }
        return self.model_copy(update={k: v for k, v in drawn.items() if getattr(self, k) is None})


@dataclass(frozen=True)
class Lighting:
    """Per-face shading and colour gains of a resolved variation."""

    gains: Float  # BGR multipliers
    ambient: float
    diffuse: float
    sky: float
    sun: Float  # unit vector towards the light
    night: bool
    rain: float

    @classmethod
    def from_variation(cls, variation: Variation, rng: np.random.Generator) -> Lighting:
        az = rng.uniform(0, 2 * math.pi)
        el = math.radians(rng.uniform(25, 65))
        sun = np.array([math.sin(az) * math.cos(el), math.cos(az) * math.cos(el), math.sin(el)])
        t = float(variation.color_temp or 0.0)
        b = float(variation.brightness or 1.0)
        rain = float(variation.rain or 0.0)
        if variation.night:
            gains = np.array([1.0 + 0.1 * t, 1.0, 1.0 + 0.15 - 0.1 * t]) * (0.85 + 0.3 * (b - 0.8))
            return cls(gains, 0.36, 0.14, 0.04, np.array([0.0, 0.0, 1.0]), True, rain)
        gains = np.array([1.0 - 0.12 * t, 1.0, 1.0 + 0.12 * t]) * b * (1.0 - 0.12 * rain)
        diffuse = 0.55 * (1.0 - 0.6 * rain)
        return cls(gains, 0.55 + 0.2 * rain, diffuse, 0.1, sun, False, rain)

    def intensity(self, normals: Float) -> Float:
        """Light factor per face from its world normal."""
        lambert = np.clip(normals @ self.sun, 0.0, None)
        return self.ambient + self.diffuse * lambert + self.sky * np.clip(normals[:, 2], 0.0, None)

    def colour(self, base, factor: float, kind: str = "body") -> tuple[float, float, float]:
        """Final BGR of a surface of ``kind`` lit by ``factor``."""
        if self.night:
            if kind == HEAD:
                return (235.0, 250.0, 255.0)
            if kind == TAIL:
                return (60.0, 50.0, 255.0)
            if kind == LAMP:
                return (80.0, 210.0, 255.0)
            if kind == WINDOW:
                base, factor = (110.0, 190.0, 225.0), 0.85
            elif kind in (PLACARD, REFLECTOR):
                factor = max(factor, 0.8)
        elif kind == GLASS:
            factor = 0.75 + 0.3 * (factor - self.ambient)
        if kind == SHADOW:
            factor = 0.35 if self.night else 0.75
        g = self.gains
        return (
            min(255.0, base[0] * factor * g[0]),
            min(255.0, base[1] * factor * g[1]),
            min(255.0, base[2] * factor * g[2]),
        )


def shake_offsets(rng: np.random.Generator, frames: int, amplitude: float) -> NDArray[np.int64]:
    """Per-frame integer image offsets (frames, 2) of a jittering camera."""
    if amplitude <= 0 or frames <= 0:
        return np.zeros((max(frames, 0), 2), dtype=np.int64)
    steps = rng.normal(0.0, 0.7 * amplitude, size=(frames, 2))
    out = np.zeros((frames, 2))
    prev = np.zeros(2)
    for i in range(frames):
        prev = np.clip(0.5 * prev + steps[i], -amplitude, amplitude)
        out[i] = prev
    return np.round(out).astype(np.int64)


class NoiseBank:
    """Pre-drawn gaussian noise cropped at random offsets: sensor noise at full frame rate."""

    def __init__(self, sigma: float, shape: tuple[int, int], rng: np.random.Generator, pad: int = 64) -> None:
        self.sigma = sigma
        self.pad = pad
        if sigma <= 0:
            self.pos = self.neg = None
            return
        noise = rng.normal(0.0, sigma, size=(shape[0] + pad, shape[1] + pad, 3))
        self.pos = np.clip(noise, 0, 255).astype(np.uint8)
        self.neg = np.clip(-noise, 0, 255).astype(np.uint8)

    def apply(self, image: NDArray[np.uint8], rng: np.random.Generator) -> None:
        """Add noise to ``image`` in place."""
        if self.pos is None:
            return
        h, w = image.shape[:2]
        dy, dx = (int(v) for v in rng.integers(0, self.pad, size=2))
        cv2.add(image, self.pos[dy:dy + h, dx:dx + w], dst=image)
        cv2.subtract(image, self.neg[dy:dy + h, dx:dx + w], dst=image)


def apply_rain(image: NDArray[np.uint8], intensity: float, rng: np.random.Generator, night: bool) -> None:
    """Lower the contrast and draw rain streaks, in place."""
    if intensity <= 0:
        return
    keep = 1.0 - 0.3 * intensity
    grey = 60.0 if night else 165.0
    cv2.convertScaleAbs(image, dst=image, alpha=keep, beta=grey * (1.0 - keep))
    h, w = image.shape[:2]
    n = int(220 * intensity * (w * h) / (1280 * 720))
    x = rng.uniform(0, w, n)
    y = rng.uniform(-30, h, n)
    length = rng.uniform(12, 34, n) * (h / 720)
    slant = rng.normal(0.18, 0.03, n)
    x2, y2 = x + slant * length, y + length
    level = (95.0 if night else 205.0) + rng.uniform(-15, 15, n)
    for i in range(n):
        c = float(level[i])
        cv2.line(image, (int(x[i]), int(y[i])), (int(x2[i]), int(y2[i])), (c, c, c), 1, cv2.LINE_AA)
