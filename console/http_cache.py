"""How the console's answers travel: gzip for text, cache validators for the static files.

- :func:`add_compression`: Starlette's ``GZipMiddleware`` compresses JSON, GeoJSON, JavaScript,
  CSS, HTML and other text when the client accepts gzip (a layer's 565 KB of GeoJSON becomes
  about 80 KB). Never compressed: live streams (MJPEG's ``multipart/x-mixed-replace``, the
  server-sent ``text/event-stream``), what is compressed already (JPEG, PNG, WebP, MP4, WebM,
  WAV, zip, gzip), opaque bytes, partial answers (``206``, ranges) and anything that carries a
  ``Content-Encoding`` of its own; websockets pass through untouched.
- :class:`RevalidatedStaticFiles`: ``/static`` answers ``Cache-Control: no-cache`` with its
  ``ETag`` and ``Last-Modified``: a browser keeps the file and asks again each time, and an
  unchanged file costs a ``304`` with no body. (The pages load their modules and the vendored
  Leaflet by plain, unversioned URLs, so nothing can be ``immutable``.) A text file asked with
  ``Accept-Encoding: gzip`` is compressed once per version of the file (path, size, mtime) and
  kept (:data:`STATIC_GZIP_BYTES` in all), not again for every page load.
"""

from __future__ import annotations

import gzip
import os
import threading
from collections import OrderedDict

import anyio.to_thread
from fastapi import FastAPI
from starlette.datastructures import Headers
from starlette.middleware.gzip import DEFAULT_EXCLUDED_CONTENT_TYPES, GZipMiddleware
from starlette.responses import FileResponse, Response
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

#: Media types never compressed: Starlette's list (images, audio, video, zip, gzip, server-sent
#: events) and the console's own streams and opaque bytes.
NOT_COMPRESSED = (
    *DEFAULT_EXCLUDED_CONTENT_TYPES,
    "multipart/*",  # MJPEG: multipart/x-mixed-replace, one JPEG after another
    "application/octet-stream",
    "application/x-ndjson",
)
#: Answers smaller than this go as they are (gzip's header would outweigh the gain).
MINIMUM_SIZE = 1024
#: zlib's level: 6 costs a third of 9's time for 1-2 % more bytes.
LEVEL = 6
#: What /static sends beside its validators.
STATIC_CACHE_CONTROL = "no-cache"
#: Static media types worth compressing, and the most compressed bytes kept in memory.
COMPRESSIBLE = ("text/", "application/javascript", "application/json", "image/svg+xml")
STATIC_GZIP_BYTES = 16 * 1024 * 1024


def add_compression(app: FastAPI) -> None:
    """Compress the app's text answers with gzip (see the module's docstring for what not)."""
    app.add_middleware(GZipMiddleware, minimum_size=MINIMUM_SIZE, compresslevel=LEVEL,
                       exclude_content_types=NOT_COMPRESSED)


class _GzipCache:
    """Compressed files by (path, size, mtime), least recently used out past ``limit`` bytes."""

    def __init__(self, limit: int = STATIC_GZIP_BYTES) -> None:
        self.limit, self.size = limit, 0
        self._items: OrderedDict[tuple[str, int, int], bytes] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, path: str, stat_result: os.stat_result) -> bytes:
        key = (path, stat_result.st_size, stat_result.st_mtime_ns)
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key]
        with open(path, "rb") as f:
            data = gzip.compress(f.read(), compresslevel=LEVEL, mtime=0)
        with self._lock:
            if key not in self._items:
                self._items[key] = data
                self.size += len(data)
            while self.size > self.limit and len(self._items) > 1:
                self.size -= len(self._items.popitem(last=False)[1])
        return data


class RevalidatedStaticFiles(StaticFiles):
    """``StaticFiles`` whose answers (``200`` and ``304``) say ``Cache-Control: no-cache``:
    kept by the browser, revalidated with ``If-None-Match`` / ``If-Modified-Since`` on each use;
    text files gzip-compressed once per version when the client accepts it."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._gzip = _GzipCache()

    def file_response(self, full_path: str | os.PathLike[str], stat_result: os.stat_result, scope: Scope,
                      status_code: int = 200) -> Response:
        response = super().file_response(full_path, stat_result, scope, status_code)
        response.headers["cache-control"] = STATIC_CACHE_CONTROL
        return response

    async def get_response(self, path: str, scope: Scope) -> Response:
        response = await super().get_response(path, scope)
        request = Headers(scope=scope)
        media_type = response.headers.get("content-type", "")
        if (not isinstance(response, FileResponse) or response.status_code != 200 or "range" in request
                or "gzip" not in request.get("accept-encoding", "") or not media_type.startswith(COMPRESSIBLE)
                or response.stat_result is None or response.stat_result.st_size < MINIMUM_SIZE):
            return response
        body = await anyio.to_thread.run_sync(self._gzip.get, str(response.path), response.stat_result)
        headers = {k: v for k, v in response.headers.items() if k not in ("content-length", "accept-ranges")}
        headers.update({"content-encoding": "gzip", "vary": "Accept-Encoding"})
        return Response(body, status_code=200, headers=headers)
