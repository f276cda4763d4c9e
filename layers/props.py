"""Feature properties as JSON: every value a table may hold made JSON-safe, or refused."""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

import numpy as np
import pandas as pd

from zhizhi.layers.errors import LayerError


class NotJSON(TypeError):
    """A value with no JSON form."""


def plain(value: Any) -> Any:
    """A JSON-safe copy of ``value``: numpy scalars and arrays unboxed, NaN/inf and NaT -> None,
    dates as ISO text; :class:`NotJSON` for anything else (sets, bytes, arbitrary objects)."""
    kind = type(value)
    if value is None or kind is str or kind is bool or kind is int:
        return value
    if kind is float:
        return value if math.isfinite(value) else None
    if value is pd.NaT or value is pd.NA:
        return None
    if isinstance(value, np.generic):
        return plain(value.item())
    if isinstance(value, np.ndarray):
        return [plain(v) for v in value.tolist()]
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, Decimal | float):
        return plain(float(value))
    if isinstance(value, bool | int | str):  # subclasses: IntEnum, StrEnum ...
        return (bool if isinstance(value, bool) else int if isinstance(value, int) else str)(value)
    raise NotJSON(f"{kind.__name__} value {value!r:.60}")


def records(frame: pd.DataFrame, offset: int = 0) -> list[dict[str, Any]]:
    """Rows of ``frame`` as JSON-safe dicts; ``invalid_argument`` names the first bad value.

    ``offset`` is the position of the frame's first row in the layer (for the error detail).
    """
    boxed = frame.astype(object).where(frame.notna(), None)
    out: list[dict[str, Any]] = []
    for i, row in enumerate(boxed.to_dict("records")):
        for key, value in row.items():
            try:
                row[key] = plain(value)
            except NotJSON as exc:
                reason = f"property {key!r} is not JSON-serialisable: {exc}"
                raise LayerError(
                    "invalid_argument",
                    f"feature {offset + i}: {reason}",
                    [{"index": offset + i, "reason": reason}],
                ) from exc
        out.append({str(k): v for k, v in row.items()})
    return out


def json_object(value: Mapping[str, Any] | None, what: str) -> dict[str, Any]:
    """A JSON-safe copy of a mapping argument (style, meta); ``invalid_argument`` if it is not one."""
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise LayerError(
            "invalid_argument", f"{what} must be a JSON object, got {type(value).__name__}"
        )
    try:
        return plain(value)
    except NotJSON as exc:
        raise LayerError("invalid_argument", f"{what} is not JSON-serialisable: {exc}") from exc
