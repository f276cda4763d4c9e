"""A county's own jurisdictions: import (check, then store in one transaction) and live reload.

:func:`import_hierarchy` is what ``zhizhi jurisdictions import`` and ``POST
/api/jurisdictions/import`` run: the files are read and checked
(:func:`~zhizhi.gis.hierarchy_import.read_and_check`); a refused or dry run stores nothing; an
accepted one replaces the stored hierarchy and re-codes the other layers in one transaction
(:func:`~zhizhi.layers.hierarchy_store.replace_hierarchy`), moves the district's users to the new
district code when it changed, and says in warnings what else it touched.

A running console learns of it without a restart: the console that imported applies it at once
(:func:`apply_hierarchy`); every other console on the same database sees the stored revision
change within :data:`POLL_S` (:class:`HierarchyWatch`) and applies it the same way: the hierarchy
object every service holds becomes the new one in place, the code book is installed, and the
district-bound parts (alert routing's district, the fleet's frame, incident analysis, the camera
index) follow.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import shapely
from pydantic import BaseModel
from sqlalchemy import select, update
from sqlalchemy.engine import Connection

from zhizhi.console.auth.store import users_table
from zhizhi.console.demo_basemap import refresh_basemap
from zhizhi.gis.codes import active_book, install_book
from zhizhi.gis.hierarchy_check import HierarchyReport, Issue
from zhizhi.gis.hierarchy_import import read_and_check
from zhizhi.gis.jurisdiction import Jurisdictions
from zhizhi.gis.metric import MetricFrame
from zhizhi.layers import LayerRegistry, Scope
from zhizhi.layers.camera_registry import camera_registry
from zhizhi.layers.errors import LayerError
from zhizhi.layers.hierarchy_store import replace_hierarchy, stored_revision

if TYPE_CHECKING:
    from zhizhi.console.state import ConsoleState

log = logging.getLogger(__name__)
#: How often a console looks for a hierarchy imported by another process.
POLL_S = 5.0
LEVEL_FILES = ("towns", "villages", "grids", "micro_grids")


class ImportRequest(BaseModel):
    """What an import was asked to do (the CLI's options, the API's form fields)."""

    files: dict[str, Path | None]
    fields: dict[str, dict[str, str]] = {}
    crs: str | None = None
    encoding: str | None = None
    district: str | None = None
    district_name: str | None = None
    tolerance_m: float = 1.0
    dry_run: bool = True
    #: The files' names as the user knows them (an upload's own name), stored as the sources;
    #: by default the names of ``files``.
    names: dict[str, str] = {}


def import_hierarchy(registry: LayerRegistry | None, request: ImportRequest) -> tuple[HierarchyReport, bool]:
    """Check the files and, when valid and not a dry run, store them; ``(report, stored)``
    (``registry`` may be ``None`` for a dry run)."""
    report, tables = read_and_check(
        request.files, request.fields, request.crs, request.encoding, request.district, request.tolerance_m
    )
    district = request.district
    if report.valid:
        district = _district_of(tables["towns"], request.district, report)
    if not report.valid or request.dry_run or registry is None:
        return report, False
    current = _current_district(registry)
    name = request.district_name or (current[1] if current and current[0] == district else district)
    towns = tables["towns"]
    outline = shapely.union_all(np.asarray(towns.geometry.values))
    jurisdictions = Jurisdictions(
        (district, name, outline), towns.assign(parent=district), tables["villages"], tables["grids"],
        tables.get("micro_grids"),
    )
    previous = active_book()
    install_book(jurisdictions.code_book())
    old_district = current[0] if current else None
    try:
        stored = replace_hierarchy(
            registry, jurisdictions, tables,
            meta={"sources": {k: request.names.get(k) or Path(v).name for k, v in request.files.items()
                              if v is not None}},
            also=lambda conn: _follow(conn, jurisdictions, old_district, report),
        )
    except Exception:
        install_book(previous)
        raise
    for layer, owner in stored.reowned.items():
        reason = f"layer {layer!r}: its owner is not in the new hierarchy; it is the district's now"
        report.warnings.append(Issue(level="layers", codes=[owner], reason=reason))
    if stored.recoded:
        changed = ", ".join(f"{k} {v}" for k, v in sorted(stored.recoded.items()))
        report.warnings.append(Issue(level="layers", codes=[], reason=f"features placed in the new units: {changed}"))
    log.info("jurisdictions of %s %s imported: %d towns, %d villages, %d grids%s", district, name,
             report.towns, report.villages, report.grids,
             f", {report.micro_grids} micro-grids" if report.micro_grids is not None else "")
    return report, True


def _district_of(towns, given: str | None, report: HierarchyReport) -> str | None:
    """The district the towns belong to: ``given``, else their one parent (an error otherwise)."""
    if given is not None:
        return given
    parents = sorted({str(p) for p in towns["parent"]})
    if len(parents) == 1 and len(parents[0]) == 6 and parents[0].isdigit():
        return parents[0]
    report.errors.append(Issue(level="towns", codes=parents[:50],
                               reason="the towns do not name one district: give --district CODE"))
    return None


def _current_district(registry: LayerRegistry) -> tuple[str, str] | None:
    try:
        meta = registry.get_layer("grids", Scope.everything()).meta or {}
    except LayerError:  # an empty store: no district yet
        return None
    code = meta.get("district_code")
    return (code, meta.get("district_name", code)) if code else None


def _follow(conn: Connection, jurisdictions: Jurisdictions, old_district: str | None,
            report: HierarchyReport) -> None:
    _users_follow(conn, jurisdictions, old_district, report)
    _cameras_follow(conn, jurisdictions, report)


def _cameras_follow(conn: Connection, jurisdictions: Jurisdictions, report: HierarchyReport) -> None:
    """Each registry camera keeps its owner when that unit still holds its position; else it
    belongs to the grid it stands in (the district outside every grid). A moved owner bumps the
    camera's revision, so every console's camera index and the workers follow."""
    c = camera_registry.c
    rows = conn.execute(select(c.id, c.lon, c.lat, c.owner_code, c.revision)).all()
    if not rows:
        return
    lon = np.array([r.lon for r in rows], dtype=float)
    lat = np.array([r.lat for r in rows], dtype=float)
    grids = jurisdictions.locate_many(lon, lat)
    now = datetime.now(UTC)
    moved = 0
    for row, x, y, grid in zip(rows, lon, lat, grids):
        owner = row.owner_code
        if owner in jurisdictions and shapely.intersects_xy(jurisdictions.get(owner).geometry, x, y):
            continue
        new_owner = grid if grid is not None else jurisdictions.district_code
        conn.execute(update(camera_registry).where(c.id == row.id)
                     .values(owner_code=new_owner, revision=row.revision + 1, updated_at=now))
        moved += 1
    if moved:
        report.warnings.append(Issue(level="cameras", codes=[],
                                     reason=f"{moved} camera(s) now belong to the unit they stand in"))


def _users_follow(conn: Connection, jurisdictions: Jurisdictions, old_district: str | None,
                  report: HierarchyReport) -> None:
    """District users follow a new district code; users of units that are gone are named."""
    u = users_table.c
    new = jurisdictions.district_code
    if old_district is not None and old_district != new:
        conn.execute(update(users_table).where(u.code == old_district).values(code=new))
    rows = conn.execute(select(u.username, u.code)).all()
    orphans = sorted(name for name, code in rows if code not in jurisdictions)
    if orphans:
        report.warnings.append(Issue(
            level="users", codes=orphans[:50],
            reason=f"{len(orphans)} user(s) belong to units not in the new hierarchy and cannot sign in "
                   "until moved (zhizhi users)",
        ))


# --- live reload ----------------------------------------------------------------------------------
def apply_hierarchy(state: ConsoleState) -> None:
    """Make the running console use the stored hierarchy (after an import, here or elsewhere)."""
    from zhizhi.console.state import load_jurisdictions

    new, synthetic = load_jurisdictions(state.registry)
    state.jurisdictions.replace_with(new)
    state.synthetic = synthetic
    district = state.jurisdictions.district_code
    outline = state.jurisdictions.get(district).geometry
    state.alerts.district = district
    state.fleet.rebase(MetricFrame.for_geometry(outline), district)
    if state.incident_impact is not None:
        state.incident_impact.rebase(MetricFrame.for_geometry(outline))
    state.reload_cameras()
    log.info("jurisdictions reloaded: district %s, %d units", district, len(state.jurisdictions))
    refresh_basemap(state.settings, state.registry)  # a basemap rendered from the old layers follows them


class HierarchyWatch:
    """Applies a hierarchy stored by another process (polls the stored revision)."""

    def __init__(self, registry: LayerRegistry, apply: Callable[[], None], poll_s: float = POLL_S) -> None:
        self.registry = registry
        self.apply = apply
        self.poll_s = poll_s
        self.revision = stored_revision(registry)
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name="hierarchy-watch", daemon=True)

    def start(self) -> HierarchyWatch:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=self.poll_s + 1)

    def check(self) -> bool:
        """Apply the stored hierarchy if it changed since last seen; whether it did."""
        with self._lock:  # one apply at a time; a caller waits for the poll's apply to finish
            revision = stored_revision(self.registry)
            if revision == self.revision:
                return False
            self.apply()
            self.revision = revision
            return True

    def seen(self, revision: str | None) -> None:
        """The revision this console applied itself (an import through its own API)."""
        with self._lock:
            self.revision = revision

    def _run(self) -> None:
        while not self._stop.wait(self.poll_s):
            try:
                self.check()
            except Exception:
                log.exception("could not apply the stored jurisdictions; the running ones stay")


__all__ = ["HierarchyWatch", "ImportRequest", "apply_hierarchy", "import_hierarchy"]
