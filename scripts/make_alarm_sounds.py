#!/usr/bin/env python3
"""Write the wall's alarm sounds: console/static/wall/sounds/alarm-red.wav and alarm-orange.wav.

Synthesised here from sine tones (our own, no sample of anyone's), deterministic: running the
script again writes the same bytes. 16 kHz, 16-bit mono PCM WAV, which every browser plays.

- red: urgent two-tone (960 Hz / 770 Hz, a quarter second each, three times), loud;
- orange: softer, a two-note chime (660 Hz then 523 Hz) fading out, at half the loudness.

The wall repeats a sound every few seconds until the alert is acknowledged (alarm.js).

    python scripts/make_alarm_sounds.py [--out DIR]
"""

from __future__ import annotations

import argparse
import wave
from pathlib import Path

import numpy as np

RATE = 16_000
OUT = Path(__file__).resolve().parents[1] / "console" / "static" / "wall" / "sounds"


def _tone(freq: float, seconds: float, amplitude: float, decay: float = 0.0) -> np.ndarray:
    """A sine tone with 8 ms fades at both ends (no clicks), optionally decaying exponentially."""
    t = np.arange(int(RATE * seconds)) / RATE
    wave_ = np.sin(2 * np.pi * freq * t) + 0.25 * np.sin(2 * np.pi * 2 * freq * t)  # a little body
    envelope = np.exp(-decay * t) if decay else np.ones_like(t)
    fade = int(RATE * 0.008)
    envelope[:fade] *= np.linspace(0, 1, fade)
    envelope[-fade:] *= np.linspace(1, 0, fade)
    return amplitude * wave_ / 1.25 * envelope


def red() -> np.ndarray:
    """Hi-lo, hi-lo, hi-lo: the urgent one."""
    pair = np.concatenate([_tone(960, 0.25, 0.9), _tone(770, 0.25, 0.9)])
    return np.concatenate([pair, pair, pair, np.zeros(int(RATE * 0.1))])


def orange() -> np.ndarray:
    """Ding-dong, fading: the softer one."""
    return np.concatenate([_tone(660, 0.45, 0.45, decay=3.0), _tone(523, 0.75, 0.45, decay=3.0),
                           np.zeros(int(RATE * 0.1))])


def write(path: Path, samples: np.ndarray) -> None:
    pcm = np.clip(np.round(samples * 32767), -32768, 32767).astype("<i2")
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(RATE)
        out.writeframes(pcm.tobytes())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=OUT, help="Folder to write into.")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    for name, samples in (("alarm-red.wav", red()), ("alarm-orange.wav", orange())):
        write(args.out / name, samples)
        print(f"{args.out / name}: {(args.out / name).stat().st_size} bytes, {len(samples) / RATE:.2f} s")


if __name__ == "__main__":
    main()
