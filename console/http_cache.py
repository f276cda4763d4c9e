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
  Leaflet by plain, unversioned URLs, so nothing can be ``immutable``.)
"""

from __future__ import annotations

import os

from fastapi import FastAPI
from starlette.middleware.gzip import DEFAULT_EXCLUDED_CONTENT_TYPES, GZipMiddleware
from starlette.responses import Response
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


def add_compression(app: FastAPI) -> None:
    """Compress the app's text answers with gzip (see the module's docstring for what not)."""
    app.add_middleware(GZipMiddleware, minimum_size=MINIMUM_SIZE, compresslevel=LEVEL,
                       exclude_content_types=NOT_COMPRESSED)


class RevalidatedStaticFiles(StaticFiles):
    """``StaticFiles`` whose answers (``200`` and ``304``) say ``Cache-Control: no-cache``:
    kept by the browser, revalidated with ``If-None-Match`` / ``If-Modified-Since`` on each use."""

    def file_response(self, full_path: str | os.PathLike[str], stat_result: os.stat_result, scope: Scope,
                      status_code: int = 200) -> Response:
        response = super().file_response(full_path, stat_result, scope, status_code)
        response.headers["cache-control"] = STATIC_CACHE_CONTROL
        return response
