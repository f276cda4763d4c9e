"""One analysed frame of one camera: its observations as row-aligned arrays (the FRAMES message).

The pipeline builds one :class:`ObservationBatch` per analysed frame (also an empty one: the
warning models need it to see a condition end) and every later stage takes that same object:
the warning engine's conditions (masks over the arrays), the annotated JPEG, the live tracks of
the wall and the JSON lines of ``zhizhi analyze --jsonl`` (:meth:`ObservationBatch.rows`). A
row is one tracked object: its track id (stable per camera), its class (voted over the track's
life), the detector's confidence, its box in pixels and, when the camera is calibrated, its
WGS-84 position, speed and heading — NaN where unknown (no calibration, a box cut by the image's
edge, a track too young to have a speed); :meth:`ObservationBatch.rows` writes them ``None``.

The frame's camera and time are the batch's own (``camera_id``, ``ts``): every row shares
them, and an empty batch still says which frame it is. On the in-process bus the object itself
is handed on (its arrays are read-only); on Redis it travels as :meth:`~ObservationBatch.to_wire`
(columns, ``None`` for unknown values) and comes back through :meth:`~ObservationBatch.from_wire`.

>>> import numpy as np
>>> batch = ObservationBatch(camera_id="CAM-1", ts=2.5, track_id=[3, 4], cls=["car", "person"],
...                          conf=[0.9, 0.5], xyxy=[[10, 20, 110, 80], [5, 5, 15, 40]],
...                          lon=[120.9, np.nan], lat=[32.0, np.nan], speed_kmh=[42.0, np.nan])
>>> len(batch), batch.is_empty(), len(batch[batch.located]), batch[batch.cls == "person"].track_id.tolist()
(2, False, 1, [4])
>>> batch.rows()[1]["lon"], batch.rows()[0]["bbox"]
(None, [10.0, 20.0, 110.0, 80.0])
>>> ObservationBatch.from_wire(batch.to_wire()) == batch
True
>>> ObservationBatch.empty("CAM-1", 3.0).is_empty()
True
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Self

import numpy as np
from numpy.typing import ArrayLike, NDArray

#: The record form of one row: the ``zhizhi analyze --jsonl`` line without its ``"type"``.
ROW_FIELDS = ("camera_id", "ts", "track_id", "cls", "conf", "bbox", "lon", "lat", "speed_kmh", "heading_deg")
#: The columns that are NaN where unknown (``None`` in rows and on the wire).
OPTIONAL = ("lon", "lat", "speed_kmh", "heading_deg")
MAX_CAMERA_ID = 64


def _column(values: ArrayLike | None, n: int | None, dtype: Any, name: str) -> np.ndarray:
    """A read-only 1-D copy of ``values``; NaN for an optional float column left out, and for
    ``None`` in a float column."""
    if values is None:
        if n is None:
            raise ValueError(f"{name} is required")
        array = np.full(n, np.nan, dtype=dtype)
    elif dtype is np.float64 and not isinstance(values, np.ndarray):
        array = np.array([np.nan if v is None else v for v in values], dtype=np.float64)
    else:
        array = np.array(values, dtype=dtype).reshape(-1)  # a copy: the caller's array stays theirs
    array.flags.writeable = False
    return array


@dataclass(frozen=True, eq=False, init=False)
class ObservationBatch:
    """The tracked objects of one analysed frame of one camera, as row-aligned arrays.

    ``batch[mask]`` (a boolean mask or index array) is a batch of the same frame with those rows;
    ``rows()`` gives the records for the few places that need them.

    >>> b = ObservationBatch("CAM-1", 0.0, track_id=[7, 8], cls=["car", "bus"], conf=[0.9, 0.8],
    ...                      xyxy=[[0, 0, 4, 2], [5, 5, 9, 9]], speed_kmh=[30.0, np.nan])
    >>> cars = b[b.cls == "car"]
    >>> len(cars), cars.rows()[0]["speed_kmh"], cars.rows()[0]["lon"]
    (1, 30.0, None)
    """

    camera_id: str
    ts: float
    track_id: NDArray[np.int64]  # (n,) stable per camera while tracked
    cls: NDArray[np.str_]  # (n,) the track's class (voted over its life)
    conf: NDArray[np.float32]  # (n,) detector confidence in [0, 1]
    xyxy: NDArray[np.float32]  # (n, 4) box in pixels: x1, y1, x2, y2
    lon: NDArray[np.float64]  # (n,) WGS-84, NaN where not located
    lat: NDArray[np.float64]
    speed_kmh: NDArray[np.float64]  # (n,) NaN while unknown
    heading_deg: NDArray[np.float64]  # (n,) degrees from north, NaN while unknown

    def __init__(
        self,
        camera_id: str,
        ts: float,
        track_id: ArrayLike,
        cls: ArrayLike,
        conf: ArrayLike,
        xyxy: ArrayLike,
        lon: ArrayLike | None = None,
        lat: ArrayLike | None = None,
        speed_kmh: ArrayLike | None = None,
        heading_deg: ArrayLike | None = None,
    ) -> None:
        set_ = object.__setattr__
        set_(self, "camera_id", str(camera_id))
        set_(self, "ts", float(ts))
        track = _column(track_id, None, np.int64, "track_id")
        n = len(track)
        set_(self, "track_id", track)
        set_(self, "cls", _column(cls, None, np.str_, "cls") if n else _readonly(np.zeros(0, dtype="<U1")))
        set_(self, "conf", _column(conf, None, np.float32, "conf"))
        boxes = np.array(xyxy, dtype=np.float32).reshape(-1, 4)
        boxes.flags.writeable = False
        set_(self, "xyxy", boxes)
        for name, values in zip(OPTIONAL, (lon, lat, speed_kmh, heading_deg)):
            set_(self, name, _column(values, n, np.float64, name))
        lengths = {len(getattr(self, name)) for name in ("cls", "conf", "xyxy", *OPTIONAL)}
        if lengths - {n}:
            raise ValueError(f"the columns of a batch must have {n} rows each")

    # --- construction ------------------------------------------------------------------------
    @classmethod
    def empty(cls, camera_id: str, ts: float) -> Self:
        """A frame without objects."""
        return cls(camera_id, ts, np.zeros(0, np.int64), [], np.zeros(0, np.float32), np.zeros((0, 4)))

    @classmethod
    def from_rows(cls, camera_id: str, ts: float, rows: Iterable[Mapping[str, Any]]) -> Self:
        """A batch from records (keys of :data:`ROW_FIELDS`; ``bbox`` a 4-sequence; an optional
        value missing or ``None`` is unknown). Their own ``camera_id``/``ts`` are not read."""
        rows = list(rows)
        if not rows:
            return cls.empty(camera_id, ts)
        return cls(
            camera_id,
            ts,
            track_id=[r["track_id"] for r in rows],
            cls=[r["cls"] for r in rows],
            conf=[r["conf"] for r in rows],
            xyxy=[r["bbox"] for r in rows],
            **{name: [r.get(name) for r in rows] for name in OPTIONAL},
        )

    # --- the columnar value --------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.track_id)

    def is_empty(self) -> bool:
        """Whether the frame has no objects."""
        return len(self.track_id) == 0

    @property
    def located(self) -> NDArray[np.bool_]:
        """A mask of the rows with a position (lon and lat known)."""
        return np.isfinite(self.lon) & np.isfinite(self.lat)

    def __getitem__(self, index: NDArray[np.bool_] | NDArray[np.integer] | slice) -> Self:
        """The rows a boolean mask, index array or slice selects, of the same frame."""
        if isinstance(index, (int, np.integer)):
            raise TypeError("index a batch with a mask, an index array or a slice; use rows() for records")
        return type(self)(
            self.camera_id,
            self.ts,
            self.track_id[index],
            self.cls[index],
            self.conf[index],
            self.xyxy[index],
            *(getattr(self, name)[index] for name in OPTIONAL),
        )

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ObservationBatch):
            return NotImplemented
        return (
            self.camera_id == other.camera_id
            and self.ts == other.ts
            and len(self) == len(other)
            and all(np.array_equal(getattr(self, k), getattr(other, k)) for k in ("track_id", "cls", "conf", "xyxy"))
            and all(np.array_equal(getattr(self, k), getattr(other, k), equal_nan=True) for k in OPTIONAL)
        )

    __hash__ = None  # type: ignore[assignment]

    def rows(self) -> list[dict[str, Any]]:
        """One record per row (:data:`ROW_FIELDS`), ``None`` where a value is unknown."""
        if self.is_empty():
            return []
        optional = [_nullable(getattr(self, name)) for name in OPTIONAL]
        return [
            {
                "camera_id": self.camera_id,
                "ts": self.ts,
                "track_id": track_id,
                "cls": cls,
                "conf": conf,
                "bbox": bbox,
                "lon": lon,
                "lat": lat,
                "speed_kmh": speed,
                "heading_deg": heading,
            }
            for track_id, cls, conf, bbox, lon, lat, speed, heading in zip(
                self.track_id.tolist(), self.cls.tolist(), self.conf.tolist(), self.xyxy.tolist(), *optional
            )
        ]

    # --- the one codec -------------------------------------------------------------------------
    def to_wire(self) -> dict[str, Any]:
        """The JSON form: the frame and one list per column (``None`` where unknown)."""
        return {
            "type": "frame",
            "camera_id": self.camera_id,
            "ts": self.ts,
            "track_id": self.track_id.tolist(),
            "cls": self.cls.tolist(),
            "conf": self.conf.tolist(),
            "xyxy": self.xyxy.tolist(),
            **{name: _nullable(getattr(self, name)) for name in OPTIONAL},
        }

    @classmethod
    def from_wire(cls, data: dict[str, Any]) -> Self:
        """The batch back from :meth:`to_wire`'s dict; ``ValueError`` when it does not fit."""
        if not isinstance(data, dict) or data.get("type", "frame") != "frame":
            raise ValueError("not a frame message")
        camera_id, ts = data.get("camera_id"), data.get("ts")
        if not isinstance(camera_id, str) or not 0 < len(camera_id) <= MAX_CAMERA_ID:
            raise ValueError(f"camera_id must be a string of 1 to {MAX_CAMERA_ID} characters")
        if isinstance(ts, bool) or not isinstance(ts, (int, float)) or not math.isfinite(ts):
            raise ValueError("ts must be a finite number")
        unknown = set(data) - {"type", "camera_id", "ts", "track_id", "cls", "conf", "xyxy", *OPTIONAL}
        if unknown:
            raise ValueError(f"unknown fields: {sorted(unknown)}")
        try:
            classes = data.get("cls", [])
            if not all(isinstance(c, str) for c in classes):
                raise ValueError("cls must be strings")
            batch = cls(
                camera_id,
                ts,
                track_id=_exact_ints(data.get("track_id", [])),
                cls=classes,
                conf=data.get("conf", []),
                xyxy=data.get("xyxy", []),
                **{name: data.get(name) for name in OPTIONAL},
            )
        except (TypeError, KeyError) as exc:
            raise ValueError(f"malformed frame columns: {exc}") from None
        if not (np.all((batch.conf >= 0) & (batch.conf <= 1)) and np.isfinite(batch.xyxy).all()):
            raise ValueError("conf must lie in [0, 1] and boxes be finite")
        if (batch.track_id < 0).any() or (batch.speed_kmh < 0).any():
            raise ValueError("track ids and speeds cannot be negative")
        return batch


def _nullable(column: np.ndarray) -> list[float | None]:
    """A float column as a list, ``None`` for NaN (JSON has no NaN)."""
    return [None if math.isnan(v) else v for v in column.tolist()]


def _exact_ints(values: Any) -> list[int]:
    if not isinstance(values, list) or not all(isinstance(v, int) and not isinstance(v, bool) for v in values):
        raise ValueError("track_id must be a list of integers")
    return values


def _readonly(array: np.ndarray) -> np.ndarray:
    array.flags.writeable = False
    return array


__all__ = ["OPTIONAL", "ROW_FIELDS", "ObservationBatch"]
