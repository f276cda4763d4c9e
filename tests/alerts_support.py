"""Helpers of the alert tests: a small real district, a controllable clock, a service on a file."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from zhizhi.alerts.policy import AlertPolicy
from zhizhi.alerts.service import AlertService
from zhizhi.alerts.store import AlertStore
from zhizhi.bus import InProcessBus, Topic
from zhizhi.bus.messages import AlertEvent
from zhizhi.console.state import locator
from zhizhi.gis.jurisdiction import Jurisdictions
from zhizhi.layers import make_engine
from zhizhi.models.warning.record import WarningEvent

T0 = 1_750_000_000.0  # 2025-06-15 23:06:40 +08:00


@lru_cache(maxsize=1)
def small_district() -> Jurisdictions:
    """3 towns, 2 villages each, 64 grids: quick to build, real geometry."""
    from zhizhi.gis.district import DistrictSpec, generate_district

    spec = DistrictSpec(seed=1, grids=64, towns=3, villages_per_town=2, cameras=0)
    return Jurisdictions.from_district(generate_district(spec))


class FakeClock:
    """``clock()`` returns ``now``; tests move it with :meth:`advance`."""

    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> float:
        self.now += seconds
        return self.now


class Recorder:
    """Every message the service publishes on the alerts topic."""

    def __init__(self, bus: InProcessBus) -> None:
        self.messages: list[AlertEvent] = []
        bus.subscribe(Topic.ALERTS, self.messages.append)

    @property
    def events(self) -> list[str]:
        return [m.event for m in self.messages]


def open_service(
    db: Path, clock: FakeClock, policy: AlertPolicy | None = None, bus: InProcessBus | None = None
) -> AlertService:
    """A service on a real SQLite file over the small district."""
    j = small_district()
    return AlertService(
        AlertStore(make_engine(f"sqlite:///{db}")), locator(j), bus=bus, clock=clock,
        policy=policy, district=j.district_code,
    )


def grids_of(town_index: int) -> list[str]:
    """Grid codes of the ``town_index``-th town (0-based)."""
    j = small_district()
    town = j.children(j.district_code)[town_index].code
    return [g for g in j.grid_codes if g.startswith(town)]


def warning(
    grid: str | None = None, *, track: int = 7, rule: str = "abnormal_stop", rule_id: str = "hazmat-stop",
    severity: str = "yellow", camera: str = "CAM-1", first: float = T0 - 60, last: float = T0,
    active: bool = True, lonlat: tuple[float, float] | None = None, **extra,
) -> WarningEvent:
    """A warning at the anchor of ``grid`` (or at ``lonlat``)."""
    lon, lat = lonlat or small_district().get(grid).anchor
    return WarningEvent(
        rule=rule, rule_id=rule_id, severity=severity, camera_id=camera, track_id=track,
        cls="hazmat_tanker", lon=lon, lat=lat, first_ts=first, last_ts=last, active=active, **extra,
    )
