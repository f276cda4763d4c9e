"""Each wall's remembered video tiles: table ``wall_tiles``.

A wall belongs to a jurisdiction (a town's wall ``main`` is not the district's ``main``:
:func:`console.live.hub.wall_key`), so the layout is kept per (jurisdiction code, wall name): how
many tiles (1, 4, 9 or 16) and which camera sits in which tile (``None``: the screen fills it).
Every video screen of the wall shows the same layout, and a reload restores it.

>>> from zhizhi.layers import make_engine
>>> store = WallTiles(make_engine("sqlite://"))
>>> store.get("320612001", "main") is None
True
>>> store.put("320612001", "main", TileLayout(layout=4, tiles=["C1", None, "C2"]), "duty").tiles
['C1', None, 'C2', None]
>>> store.get("320612", "main") is None  # the district's wall main is another wall
True
"""

from __future__ import annotations

import time
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator
from sqlalchemy import JSON, Column, Engine, Float, Integer, String, Table, select, update
from sqlalchemy.exc import IntegrityError

from zhizhi.gis.codes import CODE_LENGTH
from zhizhi.layers.db import migrate
from zhizhi.layers.schema import metadata

LAYOUTS = (1, 4, 9, 16)

wall_tiles = Table(
    "wall_tiles",
    metadata,
    Column("code", String(CODE_LENGTH), primary_key=True),
    Column("wall", String(64), primary_key=True),
    Column("layout", Integer, nullable=False),
    Column("tiles", JSON, nullable=False),
    Column("updated_by", String(64), nullable=False),
    Column("updated_ts", Float, nullable=False),
)


class TileLayout(BaseModel):
    """A wall's tiles: the layout and the camera of each tile in order (``None``: not chosen).
    The list is padded with ``None`` to the layout's size; a longer one is refused."""

    model_config = ConfigDict(extra="forbid")

    layout: Literal[1, 4, 9, 16]
    tiles: list[str | None] = Field(default_factory=list, max_length=16)
    updated_by: str | None = None
    updated_ts: float | None = None

    @model_validator(mode="after")
    def _fits(self) -> TileLayout:
        if len(self.tiles) > self.layout:
            raise ValueError(f"{len(self.tiles)} tiles do not fit a layout of {self.layout}")
        for camera in self.tiles:
            if camera is not None and not 1 <= len(camera) <= 64:
                raise ValueError("a camera id has 1 to 64 characters")
        self.tiles = [*self.tiles, *[None] * (self.layout - len(self.tiles))]
        return self


class WallTiles:
    """The ``wall_tiles`` table (see the module)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        migrate(engine)

    def get(self, code: str, wall: str) -> TileLayout | None:
        """The remembered layout of the wall, or ``None``."""
        query = select(wall_tiles).where(wall_tiles.c.code == code, wall_tiles.c.wall == wall)
        with self.engine.connect() as conn:
            row = conn.execute(query).first()
        if row is None:
            return None
        return TileLayout(layout=row.layout, tiles=row.tiles, updated_by=row.updated_by, updated_ts=row.updated_ts)

    def put(self, code: str, wall: str, layout: TileLayout, by: str, *, now: float | None = None) -> TileLayout:
        """Remember the wall's layout (replacing the one before)."""
        values = {"layout": layout.layout, "tiles": layout.tiles, "updated_by": by,
                  "updated_ts": time.time() if now is None else now}
        key = (wall_tiles.c.code == code, wall_tiles.c.wall == wall)
        for attempt in range(2):  # two screens saving a new wall at once: the later one updates
            try:
                with self.engine.begin() as conn:
                    if not conn.execute(update(wall_tiles).where(*key).values(**values)).rowcount:
                        conn.execute(wall_tiles.insert().values(code=code, wall=wall, **values))
                break
            except IntegrityError:
                if attempt:
                    raise
        return TileLayout(layout=layout.layout, tiles=layout.tiles, updated_by=by, updated_ts=values["updated_ts"])


__all__ = ["LAYOUTS", "TileLayout", "WallTiles", "wall_tiles"]
