"""Camera tours (视频巡航), their patrol log, and each wall's remembered video tiles.

Tours (``console/tours.py``): ``GET /api/tours`` lists those of the caller's jurisdiction (and the
units below it), ``POST /api/tours`` makes one (``{"name", "stops": [{"camera_id", "dwell_s"}]}``),
``GET``/``PUT``/``DELETE /api/tours/{id}`` read, replace and remove one. Making and changing
tours needs ``alerts.act`` (the operators of the wall); a camera the caller may not watch, or
that does not exist, is refused alike (422 naming it); a dwell outside 1–3600 s likewise. A tour
of another jurisdiction is a 404 like a missing one.

The patrol log: a video screen running a tour reports each stop with ``POST
/api/tours/{id}/log`` (``{"camera_id", "wall"}``, ``read`` is enough: a wall screen runs it); the
console records the time, the camera and a JPEG of the camera's newest frame, taken here from the
workers (none while the camera has no video). ``GET /api/tours/{id}/log?start=&end=`` (epoch
seconds) lists a range's entries for the shift report, each with its snapshot's URL, ``GET
/api/tours/{id}/log/{entry}/snapshot.jpg`` (bearer header, or ``?ticket=`` for an ``<img>``).
``GET /api/tours/{id}/log.csv?start=&end=`` is the same range as a CSV for the shift report
(UTF-8 with a BOM, Chinese headers or ``?headers=en``, times in ``wall.time_zone``; bearer header,
or ``?ticket=`` for a download link; docs/exports.md).

The tiles (``console/wall_tiles.py``): ``GET /api/walls/{wall}/tiles`` is the layout every video
screen of the caller's wall ``wall`` shows (1, 4, 9 or 16 tiles and the camera of each);
``PUT /api/walls/{wall}/tiles`` replaces it and ``PUT /api/walls/{wall}/tiles/{n}``
(``{"camera_id"}``, n from 1) puts one camera on tile n — the map's "投到画面 N", a camera
dropped on a tile. Either change goes to every screen of the wall as a websocket message
``{"type": "wall", "action": "tiles", "wall", "layout", "tiles", "names", "by", "updated_ts"}``. A town's wall ``main``
is not the district's (:func:`console.live.hub.wall_key`); a camera the caller may not watch is
refused (422) and never stored.

Named layouts: the three routes take ``?name=NAME`` (``危化专线``; 1–64 characters, no slash or
space, not a number: 422) for one of the wall's named layouts instead of its main one — what a
wall's ``custom`` slot shows (``/wall?screen=video&wall=W&layout=NAME``). Kept apart from the main
layout, the same jurisdiction checks; its message carries ``"name": NAME`` (``null`` for the main
layout), and a screen applies only the messages of the layout it shows.
"""

from __future__ import annotations

import time
from typing import Annotated

from fastapi import APIRouter, Body, Depends, HTTPException, Path, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from zhizhi.console.api.deps import CurrentPrincipal, RequestScope, State, UrlScope, require
from zhizhi.console.auth import Permission, Principal
from zhizhi.console.csv_export import CSV_RESPONSES, HeadersQuery, TicketQuery, csv_response
from zhizhi.console.export_tables import TOUR_LOG_COLUMNS
from zhizhi.console.live.hub import wall_key
from zhizhi.console.state import ConsoleState
from zhizhi.console.tours import LogEntry, Tour, TourInput, TourStore
from zhizhi.console.wall_tiles import NAME_LENGTH, TileLayout, WallTiles, is_layout_name
from zhizhi.gis.codes import is_within

router = APIRouter(tags=["tours"])

TourId = Annotated[int, Path(ge=1, le=2**31 - 1)]
WallName = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[^/\s]+$", description="The wall's name.")]
Operator = Annotated[Principal, Depends(require(Permission.ALERTS_ACT))]
#: The largest time range the log lists at once (seconds: 31 days).
MAX_LOG_RANGE_S = 31 * 86_400


def _stores(request: Request) -> tuple[TourStore, WallTiles]:
    """The two stores, made on first use over the console's database."""
    app = request.app.state
    if getattr(app, "tour_stores", None) is None:
        engine = app.console.engine
        app.tour_stores = (TourStore(engine), WallTiles(engine))
    return app.tour_stores


def _camera_name(state: ConsoleState, camera_id: str, code: str) -> str | None:
    """The camera's name when ``code`` may watch it, else ``None`` (unknown or someone else's)."""
    try:
        camera = state.cameras.get(camera_id)
    except KeyError:
        return None
    if camera.grid is None or not is_within(camera.grid, code):
        return None
    return camera.name or camera.id


def _check_cameras(state: ConsoleState, ids: list[str | None], code: str) -> None:
    """422 naming the first camera the caller may not put on the wall."""
    for camera_id in ids:
        if camera_id is not None and _camera_name(state, camera_id, code) is None:
            raise HTTPException(422, f"unknown camera {camera_id!r}: not a camera of your jurisdiction")


def _tour_of(request: Request, tour_id: int, code: str) -> Tour:
    tour = _stores(request)[0].get(tour_id, code)
    if tour is None:
        raise HTTPException(404, f"no tour {tour_id}")
    return tour


def _tour_answer(state: ConsoleState, tour: Tour, code: str) -> dict:
    answer = tour.to_dict()
    for stop in answer["stops"]:
        stop["name"] = _camera_name(state, stop["camera_id"], code) or stop["camera_id"]
    return answer


# --- tours ---------------------------------------------------------------------------------


@router.get("/api/tours")
def list_tours(request: Request, state: State, scope: RequestScope) -> list[dict]:
    """The tours of the caller's jurisdiction (and the units below it), by name."""
    return [_tour_answer(state, t, scope.code) for t in _stores(request)[0].list(scope.code)]


@router.post("/api/tours", status_code=201)
def create_tour(request: Request, state: State, scope: RequestScope, principal: Operator, tour: TourInput) -> dict:
    """A new tour of the caller's jurisdiction."""
    _check_cameras(state, [s.camera_id for s in tour.stops], scope.code)
    return _tour_answer(state, _stores(request)[0].create(scope.code, tour, principal.username), scope.code)


@router.get("/api/tours/{tour_id}")
def get_tour(request: Request, state: State, scope: RequestScope, tour_id: TourId) -> dict:
    """One tour (404 when missing or another jurisdiction's)."""
    return _tour_answer(state, _tour_of(request, tour_id, scope.code), scope.code)


@router.put("/api/tours/{tour_id}")
def replace_tour(
    request: Request, state: State, scope: RequestScope, principal: Operator, tour_id: TourId, tour: TourInput
) -> dict:
    """Change a tour's name and stops."""
    _tour_of(request, tour_id, scope.code)
    _check_cameras(state, [s.camera_id for s in tour.stops], scope.code)
    changed = _stores(request)[0].replace(tour_id, scope.code, tour)
    if changed is None:
        raise HTTPException(404, f"no tour {tour_id}")
    return _tour_answer(state, changed, scope.code)


@router.delete("/api/tours/{tour_id}", status_code=204)
def delete_tour(request: Request, scope: RequestScope, principal: Operator, tour_id: TourId) -> Response:
    """Remove a tour and its patrol log."""
    if not _stores(request)[0].delete(tour_id, scope.code):
        raise HTTPException(404, f"no tour {tour_id}")
    return Response(status_code=204)


# --- the patrol log ------------------------------------------------------------------------


class StopReport(BaseModel):
    """A stop a video screen made on a tour."""

    model_config = ConfigDict(extra="forbid")

    camera_id: str = Field(min_length=1, max_length=64)
    wall: str = Field("main", min_length=1, max_length=64, pattern=r"^[^/\s]+$")


def _entry_answer(state: ConsoleState, entry: LogEntry, code: str) -> dict:
    url = f"/api/tours/{entry.tour_id}/log/{entry.id}/snapshot.jpg" if entry.has_snapshot else None
    return {
        "id": entry.id,
        "tour_id": entry.tour_id,
        "ts": entry.ts,
        "camera_id": entry.camera_id,
        "name": _camera_name(state, entry.camera_id, code) or entry.camera_id,
        "wall": entry.wall,
        "by": entry.by,
        "snapshot": url,
    }


@router.post("/api/tours/{tour_id}/log", status_code=201)
def log_stop(
    request: Request, state: State, scope: RequestScope, principal: CurrentPrincipal, tour_id: TourId, stop: StopReport
) -> dict:
    """Record a stop of the tour: time, camera, and the camera's newest frame as the snapshot."""
    tour = _tour_of(request, tour_id, scope.code)
    if stop.camera_id not in {s.camera_id for s in tour.stops}:
        raise HTTPException(422, f"camera {stop.camera_id!r} is no stop of tour {tour_id}")
    _check_cameras(state, [stop.camera_id], scope.code)
    entry = _stores(request)[0].log(
        tour, stop.camera_id, stop.wall, state.latest_jpeg(stop.camera_id), principal.username
    )
    return _entry_answer(state, entry, scope.code)


@router.get("/api/tours/{tour_id}/log")
def list_log(
    request: Request,
    state: State,
    scope: RequestScope,
    tour_id: TourId,
    start: Annotated[float, Query(ge=0, description="From (epoch seconds, included).")],
    end: Annotated[float | None, Query(ge=0, description="Until (epoch seconds, excluded); default now.")] = None,
) -> list[dict]:
    """The tour's patrol log between ``start`` and ``end``, oldest first."""
    _tour_of(request, tour_id, scope.code)
    return [_entry_answer(state, e, scope.code) for e in _log_range(request, tour_id, start, end)]


def _log_range(request: Request, tour_id: int, start: float, end: float | None) -> list[LogEntry]:
    """The entries of ``start <= ts < end`` (``end`` none: now), after checking the range."""
    end = time.time() + 1 if end is None else end
    if end <= start:
        raise HTTPException(422, "end must be after start")
    if end - start > MAX_LOG_RANGE_S:
        raise HTTPException(422, f"a range of at most {MAX_LOG_RANGE_S // 86_400} days")
    return _stores(request)[0].entries(tour_id, start=start, end=end)


@router.get("/api/tours/{tour_id}/log.csv", responses=CSV_RESPONSES)
def log_csv(
    request: Request,
    state: State,
    scope: UrlScope,
    tour_id: TourId,
    start: Annotated[float, Query(ge=0, description="From (epoch seconds, included).")],
    end: Annotated[float | None, Query(ge=0, description="Until (epoch seconds, excluded); default now.")] = None,
    headers: HeadersQuery = "zh",
    ticket: TicketQuery = None,
) -> Response:
    """The tour's patrol log between ``start`` and ``end`` as a CSV (UTF-8 with a BOM: Excel on a
    Chinese Windows opens it as it is; docs/exports.md), times in the wall's time zone."""
    tour = _tour_of(request, tour_id, scope.code)
    rows = [{"ts": entry.ts, "tour": tour.name, "camera": _camera_name(state, entry.camera_id, scope.code)
             or entry.camera_id, "camera_id": entry.camera_id, "wall": entry.wall, "by": entry.by,
             "snapshot": "yes" if entry.has_snapshot else "no"}
            for entry in _log_range(request, tour_id, start, end)]
    return csv_response(TOUR_LOG_COLUMNS, rows, headers=headers, time_zone=state.settings.wall.time_zone,
                        filename=f"patrol-log-{tour.id}.csv", filename_zh=f"巡查记录-{tour.name}.csv")


@router.get("/api/tours/{tour_id}/log/{entry_id}/snapshot.jpg", responses={200: {"content": {"image/jpeg": {}}}})
def log_snapshot(
    request: Request,
    scope: UrlScope,
    tour_id: TourId,
    entry_id: Annotated[int, Path(ge=1, le=2**63 - 1)],
    ticket: Annotated[str | None, Query(max_length=256, description="A ticket, for <img> tags.")] = None,
) -> Response:
    """The JPEG of a patrol log entry."""
    _tour_of(request, tour_id, scope.code)
    jpeg = _stores(request)[0].snapshot(tour_id, entry_id)
    if jpeg is None:
        raise HTTPException(404, f"no snapshot of entry {entry_id}")
    return Response(jpeg, media_type="image/jpeg", headers={"Cache-Control": "private, max-age=86400"})


# --- the wall's tiles ----------------------------------------------------------------------


def _visible_tiles(state: ConsoleState, layout: TileLayout, code: str) -> dict:
    """The layout as the caller may see it (a camera moved out of its jurisdiction since: empty)."""
    tiles = [c if c is not None and _camera_name(state, c, code) else None for c in layout.tiles]
    names = {c: _camera_name(state, c, code) for c in tiles if c is not None}
    return {
        "layout": layout.layout,
        "tiles": tiles,
        "names": names,
        "updated_by": layout.updated_by,
        "updated_ts": layout.updated_ts,
    }


def _layout_name(
    name: Annotated[
        str | None,
        Query(min_length=1, max_length=NAME_LENGTH, description="A named layout of the wall (none: its main one)."),
    ] = None,
) -> str | None:
    """The ``?name=`` of a named layout, checked (a number is a tile count, not a name: 422)."""
    if name is not None and not is_layout_name(name):
        raise HTTPException(422, f"{name!r} cannot name a layout: no slash or space, and not a number")
    return name


LayoutName = Annotated[str | None, Depends(_layout_name)]


def _announce(state: ConsoleState, code: str, wall: str, answer: dict, by: str, name: str | None) -> None:
    """Every screen of the wall gets the new layout (those showing another layout ignore it)."""
    if state.hub is not None:
        message = {
            "type": "wall",
            "wall": wall,
            "action": "tiles",
            "name": name,
            "by": by,
            "layout": answer["layout"],
            "tiles": answer["tiles"],
            "names": answer["names"],
            "updated_ts": answer["updated_ts"],
        }
        state.hub.publish(message, audience=[code], wall=wall_key(code, wall))


@router.get("/api/walls/{wall}/tiles")
def get_tiles(request: Request, state: State, scope: RequestScope, wall: WallName, name: LayoutName) -> dict:
    """The wall's remembered tiles (``updated_ts`` null: nothing remembered yet, four empty tiles)."""
    layout = _stores(request)[1].get(scope.code, wall, name=name) or TileLayout(layout=4)
    return {**_visible_tiles(state, layout, scope.code), "name": name}


@router.put("/api/walls/{wall}/tiles")
def put_tiles(
    request: Request,
    state: State,
    scope: RequestScope,
    principal: CurrentPrincipal,
    wall: WallName,
    layout: TileLayout,
    name: LayoutName,
) -> dict:
    """Remember the wall's layout and tiles; every video screen of the wall showing it follows."""
    _check_cameras(state, layout.tiles, scope.code)
    saved = _stores(request)[1].put(
        scope.code, wall, TileLayout(layout=layout.layout, tiles=layout.tiles), principal.username, name=name
    )
    answer = {**_visible_tiles(state, saved, scope.code), "name": name}
    _announce(state, scope.code, wall, answer, principal.username, name)
    return answer


class TileCamera(BaseModel):
    """The camera to put on one tile (``null``: empty it)."""

    model_config = ConfigDict(extra="forbid")

    camera_id: str | None = Field(min_length=1, max_length=64)


@router.put("/api/walls/{wall}/tiles/{tile}")
def put_tile(
    request: Request,
    state: State,
    scope: RequestScope,
    principal: CurrentPrincipal,
    wall: WallName,
    tile: Annotated[int, Path(ge=1, le=16, description="The tile, from 1.")],
    body: Annotated[TileCamera, Body()],
    name: LayoutName,
) -> dict:
    """Put one camera on tile ``tile`` (the layout grows to hold it); a camera already on another
    tile swaps places with the one it replaces."""
    _check_cameras(state, [body.camera_id], scope.code)
    store = _stores(request)[1]
    current = store.get(scope.code, wall, name=name) or TileLayout(layout=4)
    size = next(n for n in (1, 4, 9, 16) if n >= max(tile, current.layout))
    tiles = [*current.tiles, *[None] * (size - current.layout)]
    if body.camera_id is not None and body.camera_id in tiles:
        tiles[tiles.index(body.camera_id)] = tiles[tile - 1]
    tiles[tile - 1] = body.camera_id
    saved = store.put(scope.code, wall, TileLayout(layout=size, tiles=tiles), principal.username, name=name)
    answer = {**_visible_tiles(state, saved, scope.code), "name": name}
    _announce(state, scope.code, wall, answer, principal.username, name)
    return answer
