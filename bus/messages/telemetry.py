"""Accepted vehicle positions: :class:`Fix`, and :class:`FixBatch`, the TELEMETRY message.

The telemetry gate is the one place where reports are validated; what it accepts becomes
:class:`Fix` (WGS-84, epoch seconds), a plain frozen record, and one :class:`FixBatch` per
accepted batch (time order per vehicle) goes on the bus. The in-process bus hands that object
to the trajectory rules and the fleet as it is; the Redis bus writes :meth:`FixBatch.to_wire`
and reads it back with :meth:`FixBatch.from_wire`, which checks what crossed the process edge.

>>> batch = FixBatch((Fix("苏F-1", 1.8e9, 120.86, 32.01, speed_kmh=40.0),))
>>> len(batch), batch.to_wire()["fixes"][0]["heading"]
(1, None)
>>> FixBatch.from_wire(batch.to_wire()) == batch
True
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import asdict, dataclass
from typing import Any, Self

from pydantic import ConfigDict, TypeAdapter, ValidationError


@dataclass(frozen=True, slots=True)
class Fix:
    """An accepted position of a vehicle: WGS-84, epoch seconds."""

    vehicle_id: str
    ts: float
    lon: float
    lat: float
    speed_kmh: float | None = None
    heading: float | None = None


_WIRE_FIXES = TypeAdapter(list[Fix], config=ConfigDict(strict=False, allow_inf_nan=False))


@dataclass(frozen=True, slots=True)
class FixBatch:
    """One batch of accepted fixes (time order per vehicle), as the gate accepted it."""

    fixes: tuple[Fix, ...]

    def __len__(self) -> int:
        return len(self.fixes)

    def __iter__(self) -> Iterator[Fix]:
        return iter(self.fixes)

    def to_wire(self) -> dict[str, Any]:
        """``{"type": "fixes", "fixes": [{vehicle_id, ts, lon, lat, speed_kmh, heading}, ...]}``."""
        return {"type": "fixes", "fixes": [asdict(fix) for fix in self.fixes]}

    @classmethod
    def from_wire(cls, data: dict[str, Any]) -> Self:
        """The batch back from :meth:`to_wire`'s dict; ``ValueError`` when it does not fit."""
        if not isinstance(data, dict) or data.get("type", "fixes") != "fixes" or set(data) - {"type", "fixes"}:
            raise ValueError("not a fixes message")
        try:
            return cls(tuple(_WIRE_FIXES.validate_python(data.get("fixes"))))
        except ValidationError as exc:
            raise ValueError(str(exc)) from None


__all__ = ["Fix", "FixBatch"]
