"""The console's CSV downloads (docs/exports.md): :func:`csv_response` answers a table written by
:func:`layers.spreadsheet.write_csv` (UTF-8 with a BOM, CRLF, formulas defused, times in the
wall's time zone) with an ASCII ``filename`` and the Chinese ``filename*``; :data:`HeadersQuery`
is every export's ``?headers=zh|en`` (Chinese by default, as the incident report always was).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import Query
from fastapi.responses import Response

from zhizhi.layers.spreadsheet import Column, Headers, disposition, write_csv

HeadersQuery = Annotated[Headers, Query(description="Column headers (and named values): zh (Chinese, "
                                                    "the default) or en.")]
#: A download link's credential (``POST /api/auth/ticket``); the route's ``UrlScope`` reads it.
TicketQuery = Annotated[str | None, Query(max_length=256, description="A ticket, for a download link.")]
#: For the routes' OpenAPI: the answer is a CSV file.
CSV_RESPONSES: dict[int | str, dict[str, Any]] = {200: {"content": {"text/csv": {}}}}
MEDIA_TYPE = "text/csv; charset=utf-8"


def stamp(ts: float, time_zone: str) -> str:
    """``YYYYMMDD-HHMM`` of ``ts`` in ``time_zone``, for a file name."""
    return datetime.fromtimestamp(ts, ZoneInfo(time_zone)).strftime("%Y%m%d-%H%M")


def csv_response(
    columns: Iterable[Column],
    rows: Iterable[Mapping[str, Any]],
    *,
    headers: Headers,
    time_zone: str,
    filename: str,
    filename_zh: str | None = None,
) -> Response:
    """The table as a CSV download (never cached: it is a reader's own view of the data)."""
    return text_response(write_csv(columns, rows, headers=headers, time_zone=time_zone), filename, filename_zh)


def text_response(text: str, filename: str, filename_zh: str | None = None) -> Response:
    """CSV text written by :func:`~layers.spreadsheet.write_csv` as a download."""
    return Response(text.encode("utf-8", "replace"), media_type=MEDIA_TYPE,
                    headers={"Content-Disposition": disposition(filename, filename_zh),
                             "Cache-Control": "no-store"})


__all__ = ["CSV_RESPONSES", "HeadersQuery", "TicketQuery", "csv_response", "stamp", "text_response"]
