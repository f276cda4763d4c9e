"""The newest annotated frame of each camera, shared through Redis for the wall's video tiles.

On one machine the console reads a camera's frame straight from its in-process worker. When
workers are other processes (``zhizhi worker`` on a Redis bus), each worker puts the newest
annotated JPEG of every camera it runs under ``{prefix}:frame:{camera}`` every
``interval_s`` (expiring after ``ttl_s``, so a dead worker's frames vanish and the tile says
so), and any console reads it back. One key per camera, overwritten: Redis holds one frame per
camera, whatever the number of consoles.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

log = logging.getLogger(__name__)


def _client(url: str) -> redis.Redis:
    return redis.Redis.from_url(url, socket_timeout=1.0, socket_connect_timeout=1.0, retry=Retry(NoBackoff(), 0))


class SharedFrames:
    """Reads and writes the shared frames (``get`` for consoles, ``put`` for workers)."""

    def __init__(self, url: str, *, prefix: str = "zhizhi", ttl_s: float = 10.0) -> None:
        self.prefix = prefix
        self.ttl_ms = int(ttl_s * 1000)
        self._client = _client(url)

    def key(self, camera_id: str) -> str:
        return f"{self.prefix}:frame:{camera_id}"

    def put(self, frames: dict[str, bytes]) -> None:
        """Store the given cameras' frames (one round trip); Redis errors are the caller's."""
        pipe = self._client.pipeline(transaction=False)
        for camera_id, jpeg in frames.items():
            pipe.set(self.key(camera_id), jpeg, px=self.ttl_ms)
        pipe.execute()

    def get(self, camera_id: str) -> bytes | None:
        """The newest frame of a camera, or None (none, expired, or Redis unreachable)."""
        try:
            return self._client.get(self.key(camera_id))
        except redis.RedisError as exc:
            log.debug("shared frame of %s unavailable: %s", camera_id, exc)
            return None

    def close(self) -> None:
        self._client.close()


class FramePublisher:
    """A worker's thread that puts the newest frame of each of its cameras every ``interval_s``."""

    def __init__(self, frames: SharedFrames, cameras: Callable[[], Iterable[str]],
                 latest: Callable[[str], bytes | None], *, interval_s: float = 0.5) -> None:
        self.frames, self.cameras, self.latest, self.interval_s = frames, cameras, latest, interval_s
        self._sent: dict[str, bytes] = {}  # camera -> the last JPEG sent (the same object is not sent again)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="shared-frames", daemon=True)
        self.errors = 0

    def start(self) -> FramePublisher:
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            batch = {}
            for camera_id in list(self.cameras()):
                jpeg = self.latest(camera_id)
                if jpeg is not None and self._sent.get(camera_id) is not jpeg:
                    batch[camera_id] = jpeg
            if not batch:
                continue
            try:
                self.frames.put(batch)
                self._sent.update(batch)
            except redis.RedisError as exc:
                self.errors += 1
                if self.errors % 20 == 1:
                    log.warning("cannot share frames (%s); the wall's tiles of these cameras wait", exc)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(2.0)
        self.frames.close()


__all__ = ["FramePublisher", "SharedFrames"]
