"""Each wall's remembered video tiles: table ``wall_tiles``.

A wall belongs to a jurisdiction (a town's wall ``main`` is not the district's ``main``:
:func:`console.live.hub.wall_key`), so the layout is kept per (jurisdiction code, wall name): how
many tiles (1, 4, 9 or 16) and which camera sits in which tile (``None``: the screen fills it).
Every video screen of the wall shows the same layout, and a reload restores it.

Besides that main layout a wall keeps *named* layouts (table ``wall_tile_layouts``, per
jurisdiction, wall and name: ``危化专线``, ``高速口``), shown by the screens that ask for them (a
wall's ``custom`` slot, ``/wall?screen=video&wall=W&layout=NAME``); a change of one reaches only
the screens showing that name.

>>> from zhizhi.layers import make_engine
>>> store = WallTiles(make_engine("sqlite://"))
>>> store.get("320612001", "main") is None
True
>>> store.put("320612001", "main", TileLayout(layout=4, tiles=["C1", None, "C2"]), "duty").tiles
['C1', None, 'C2', None]
>>> store.get("320612", "main") is None  # the district's wall main is another wall
True
>>> store.put("320612001", "main", TileLayout(layout=1, tiles=["C9"]), "duty", name="危化专线").tiles
['C9']
>>> store.get("320612001", "main").tiles[0], store.get("320612001", "main", name="危化专线").tiles
('C1', ['C9'])
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
#: The longest name of a named layout (the ``layout`` of a wall's custom slot).
NAME_LENGTH = 64

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

wall_tile_layouts = Table(
    "wall_tile_layouts",
    metadata,
    Column("code", String(CODE_LENGTH), primary_key=True),
    Column("wall", String(64), primary_key=True),
    Column("name", String(NAME_LENGTH), primary_key=True),
    Column("layout", Integer, nullable=False),
    Column("tiles", JSON, nullable=False),
    Column("updated_by", String(64), nullable=False),
    Column("updated_ts", Float, nullable=False),
)


def is_layout_name(name: str) -> bool:
    """Whether ``name`` can name a layout: 1 to 64 characters, no slash or space, and not a tile
    count (``?layout=4`` asks for four tiles of the main layout, not a layout called "4")."""
    return 1 <= len(name) <= NAME_LENGTH and not any(c == "/" or c.isspace() for c in name) and not name.isdigit()


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

    @staticmethod
    def _key(code: str, wall: str, name: str | None) -> tuple[Table, tuple]:
        """The table and the row's key of the wall's main layout (``name`` None) or a named one."""
        if name is None:
            return wall_tiles, (wall_tiles.c.code == code, wall_tiles.c.wall == wall)
        t = wall_tile_layouts
        return t, (t.c.code == code, t.c.wall == wall, t.c.name == name)

    def get(self, code: str, wall: str, *, name: str | None = None) -> TileLayout | None:
        """The remembered layout of the wall (``name``: that named layout), or ``None``."""
        table, key = self._key(code, wall, name)
        query = select(table).where(*key)
        with self.engine.connect() as conn:
            row = conn.execute(query).first()
        if row is None:
            return None
        return TileLayout(layout=row.layout, tiles=row.tiles, updated_by=row.updated_by, updated_ts=row.updated_ts)

    def put(
        self, code: str, wall: str, layout: TileLayout, by: str, *, name: str | None = None, now: float | None = None
    ) -> TileLayout:
        """Remember the wall's layout (``name``: that named layout), replacing the one before."""
        values = {"layout": layout.layout, "tiles": layout.tiles, "updated_by": by,
                  "updated_ts": time.time() if now is None else now}
        table, key = self._key(code, wall, name)
        row = {"code": code, "wall": wall, **({} if name is None else {"name": name})}
        for attempt in range(2):  # two screens saving a new wall at once: the later one updates
            try:
                with self.engine.begin() as conn:
                    if not conn.execute(update(table).where(*key).values(**values)).rowcount:
                        conn.execute(table.insert().values(**row, **values))
                break
            except IntegrityError:
                if attempt:
                    raise
        return TileLayout(layout=layout.layout, tiles=layout.tiles, updated_by=by, updated_ts=values["updated_ts"])


__all__ = ["LAYOUTS", "NAME_LENGTH", "TileLayout", "WallTiles", "is_layout_name", "wall_tile_layouts", "wall_tiles"]
