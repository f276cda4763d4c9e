"""CSV tables that open as they should in Excel and WPS on a Chinese Windows desktop.

Every CSV the project writes (the console's exports, a backtest sweep's ``sweep.csv``) goes
through :func:`write_csv`, which is why it lives here, below the models, the alerts and the
console that all use it (it needs nothing but the standard library):

- UTF-8 with a byte-order mark (without it Excel reads the file as GBK and the Chinese is
  garbled), CRLF line ends, fields quoted as Excel expects (``csv``'s ``excel`` dialect: a field
  with a comma, a quote or a line break in quotes, quotes doubled);
- headers in Chinese (``headers="zh"``) or English (``"en"``) from one list of :class:`Column`
  specs, which may also name a column's values in Chinese (``"new"`` -> ``新告警``);
- formula injection neutralised (OWASP "CSV injection"): a text cell that starts with ``=``,
  ``+``, ``-``, ``@``, a tab or a carriage return gets a leading apostrophe, so that a camera
  named ``=HYPERLINK(...)`` is shown as text, never run. Numbers stay numbers: a number column's
  ``-3.5`` (or a text cell that is exactly a number) is written as it is;
- times (epoch seconds) as ``YYYY-MM-DD HH:MM:SS`` in the wall's time zone, which Excel reads
  as a date and time;
- long digit-only codes (a village's 12 digits, a grid's 15) of a ``code`` column followed by a
  tab, so that Excel and WPS keep them as text instead of showing ``3.20612E+14`` (and
  writing that back when the sheet is saved); a machine reader strips it (``value.strip()``).

>>> columns = [Column("name", "名称"), Column("count", "数量", "number"), Column("ts", "时间", "time")]
>>> text = write_csv(columns, [{"name": "=1+1", "count": -3, "ts": 1_750_000_000}])
>>> text.encode("utf-8")[:3], text.splitlines()
(b'\\xef\\xbb\\xbf', ['\\ufeff名称,数量,时间', "'=1+1,-3,2025-06-15 23:06:40"])
>>> print(disposition("alerts-20250615.csv", "告警-20250615.csv"))
attachment; filename="alerts-20250615.csv"; filename*=UTF-8''%E5%91%8A%E8%AD%A6-20250615.csv
"""

from __future__ import annotations

import csv
import io
import math
import re
from collections.abc import Iterable, Mapping
from datetime import datetime
from functools import lru_cache
from typing import Any, Literal, NamedTuple
from urllib.parse import quote
from zoneinfo import ZoneInfo

Headers = Literal["zh", "en"]
Kind = Literal["text", "number", "time", "bool", "code"]

BOM = "\ufeff"
DEFAULT_TIME_ZONE = "Asia/Shanghai"
TIME_FORMAT = "%Y-%m-%d %H:%M:%S"
#: First characters a spreadsheet takes as the start of a formula (OWASP: CSV injection).
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
#: Exactly a number (``-12``, ``3.5``, ``-1e-3``): written as it is, never defused.
_NUMBER = re.compile(r"^-?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?$")
#: Excel's General format shows at most 11 digits before turning to scientific notation.
LONGEST_PLAIN_DIGITS = 11
_ASCII_NAME = re.compile(r"[^A-Za-z0-9._-]+")
_YES_NO = {"zh": ("是", "否"), "en": ("true", "false")}


class Column(NamedTuple):
    """One column: its English ``key`` (the row's key and the English header), its Chinese
    header, what its values are, and optionally the Chinese names of its values."""

    key: str
    zh: str
    kind: Kind = "text"
    values_zh: Mapping[str, str] | None = None

    def header(self, headers: Headers) -> str:
        return self.zh if headers == "zh" else self.key


@lru_cache(maxsize=8)
def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def format_time(ts: float | datetime | None, time_zone: str = DEFAULT_TIME_ZONE) -> str:
    """Epoch seconds (or an aware datetime) as ``YYYY-MM-DD HH:MM:SS`` in ``time_zone``; ``""``
    for none.

    >>> format_time(0), format_time(0, "UTC"), format_time(None)
    ('1970-01-01 08:00:00', '1970-01-01 00:00:00', '')
    """
    if ts is None:
        return ""
    moment = ts if isinstance(ts, datetime) else datetime.fromtimestamp(float(ts), tz=_zone(time_zone))
    return moment.astimezone(_zone(time_zone)).strftime(TIME_FORMAT)


def defuse(text: str) -> str:
    """A text cell a spreadsheet shows and never runs: a leading apostrophe when it starts like
    a formula, unless it is exactly a number.

    >>> defuse("=cmd|' /C calc'!A0"), defuse("-2.5"), defuse("-1+1"), defuse("@SUM(A1)"), defuse("东门")
    ("'=cmd|' /C calc'!A0", '-2.5', "'-1+1", "'@SUM(A1)", '东门')
    """
    if text.startswith(FORMULA_START) and not _NUMBER.match(text):
        return "'" + text
    return text


def _number(value: Any) -> str:
    if isinstance(value, bool):
        return str(int(value))
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return "" if not math.isfinite(value) else repr(value)
    text = str(value).strip()
    return text if _NUMBER.match(text) else defuse(text)


def _code(value: Any) -> str:
    text = defuse(str(value))
    if text.isdigit() and (len(text) > LONGEST_PLAIN_DIGITS or (len(text) > 1 and text[0] == "0")):
        return text + "\t"  # Excel and WPS then keep it as text: no 3.20612E+14, no lost zeros
    return text


def cell(value: Any, column: Column, headers: Headers = "zh", time_zone: str = DEFAULT_TIME_ZONE) -> str:
    """One value as its column writes it (see the module docstring); ``""`` for none."""
    if value is None:
        return ""
    if column.kind == "time":
        return format_time(value, time_zone)
    if column.kind == "number":
        return _number(value)
    if column.kind == "bool":
        yes, no = _YES_NO[headers]
        return yes if value else no
    if isinstance(value, list | tuple | set | frozenset):
        value = "; ".join(str(v) for v in value)
    text = str(value).replace("\x00", "")
    if headers == "zh" and column.values_zh is not None:
        text = column.values_zh.get(text, text)
    return _code(text) if column.kind == "code" else defuse(text)


def write_csv(
    columns: Iterable[Column],
    rows: Iterable[Mapping[str, Any]],
    *,
    headers: Headers = "zh",
    time_zone: str = DEFAULT_TIME_ZONE,
    bom: bool = True,
) -> str:
    """The table as CSV text: a header row (Chinese or English), then one row per mapping
    (keyed by :attr:`Column.key`; a missing key is an empty cell). With ``bom`` (the default)
    it starts with the byte-order mark; encode it as UTF-8."""
    columns = list(columns)
    out = io.StringIO()
    if bom:
        out.write(BOM)
    writer = csv.writer(out, dialect="excel", lineterminator="\r\n")
    writer.writerow([c.header(headers) for c in columns])
    for row in rows:
        writer.writerow([cell(row.get(c.key), c, headers, time_zone) for c in columns])
    return out.getvalue()


def ascii_filename(name: str, fallback: str = "export.csv") -> str:
    """``name`` reduced to letters, digits, ``.``, ``_`` and ``-`` (for ``filename=``).

    >>> ascii_filename("patrol log/东门.csv"), ascii_filename("东门")
    ('patrol-log-.csv', 'export.csv')
    """
    reduced = _ASCII_NAME.sub("-", name).strip("-") or ""
    return reduced if reduced.strip(".-_") and reduced != ".csv" else fallback


def disposition(filename: str, filename_zh: str | None = None) -> str:
    """A ``Content-Disposition`` for a download: the ASCII ``filename`` for every client, and
    the Chinese name as ``filename*=UTF-8''...`` (RFC 6266 / 5987) for those that read it."""
    header = f'attachment; filename="{ascii_filename(filename)}"'
    if filename_zh:
        header += f"; filename*=UTF-8''{quote(filename_zh.replace('/', '-'), safe='')}"
    return header


__all__ = [
    "BOM",
    "DEFAULT_TIME_ZONE",
    "FORMULA_START",
    "Column",
    "Headers",
    "ascii_filename",
    "cell",
    "defuse",
    "disposition",
    "format_time",
    "write_csv",
]
