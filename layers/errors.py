"""The one exception of the layers package, with stable machine-readable codes.

Every failure the caller can act on is a :class:`LayerError` whose ``code`` is one of:

======================  ======  ==============================================================
code                    HTTP    meaning
======================  ======  ==============================================================
``too_large``           413     file over ``max_bytes``, or archive contents over
                                ``max_archive_bytes`` (checked before parsing / extracting)
``too_many_features``   422     more features than ``max_features``
``empty``               422     0-byte or whitespace-only file, or no features in it
``malformed``           422     unreadable file: bad JSON (message gives line and column),
                                GeoJSON structure libraries would silently "fix" (unclosed or
                                short rings, non-numeric / NaN coordinates), broken archive
``invalid_geometry``    422     null, empty or OGC-invalid geometries (not repaired because
                                ``make_valid`` was off, or not repairable)
``unsafe_archive``      422     zip entry with an absolute path, ``..``, a drive letter, or a
                                symlink (nothing is extracted)
``unsupported_format``  422     unknown extension, zip without exactly one ``.shp``, a layer
                                that the export format cannot hold
``bad_crs``             422     unknown CRS name, or no CRS where one is needed (Shapefile
                                without ``.prj`` and none declared)
``projected_as_degrees``  422   coordinates outside lon ±180 / lat ±90 in a file that says
                                degrees (typically metres of a projected system)
``invalid_argument``    422     a caller's mistake: bad layer name, owner code, feature codes,
                                visibility, style ...
``not_found``           404     no such layer, or one the scope may not see (indistinguishable)
``exists``              409     the layer exists and ``replace`` was off
``forbidden``           403     the layer exists and is owned outside the writer's jurisdiction
======================  ======  ==============================================================

``details`` lists per-feature problems as ``{"index": i, "reason": "..."}`` where ``i`` is
the feature's 0-based position in the source (for ``invalid_geometry``, ``malformed``,
``projected_as_degrees`` and ``invalid_argument``).
"""

from __future__ import annotations

from typing import Any

CODES: frozenset[str] = frozenset(
    {
        "too_large",
        "too_many_features",
        "empty",
        "malformed",
        "invalid_geometry",
        "unsafe_archive",
        "unsupported_format",
        "bad_crs",
        "projected_as_degrees",
        "invalid_argument",
        "not_found",
        "exists",
        "forbidden",
    }
)

# How many per-feature details one error carries at most (the message gives the total).
MAX_DETAILS = 1000


class LayerError(Exception):
    """A layer operation refused, with a stable ``code``, a human ``message`` and ``details``."""

    def __init__(self, code: str, message: str, details: list[dict[str, Any]] | None = None):
        if code not in CODES:
            raise ValueError(f"unknown LayerError code {code!r}")
        super().__init__(message)
        self.code = code
        self.message = message
        self.details: list[dict[str, Any]] = list(details or [])[:MAX_DETAILS]

    def __str__(self) -> str:
        return f"[{self.code}] {self.message}"

    def __repr__(self) -> str:
        return f"LayerError({self.code!r}, {self.message!r}, details={len(self.details)})"
