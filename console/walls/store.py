"""Walls on SQLAlchemy 2 (table ``walls``): created, listed within a jurisdiction, replaced,
deleted (their devices go with them). The schema is made by :func:`layers.db.migrate` (the
console's :class:`~console.auth.store.AuthStore` runs it at start-up).

>>> from zhizhi.layers import make_engine
>>> from zhizhi.layers.db import migrate
>>> from zhizhi.console.walls.models import Slot, WallBody
>>> engine = make_engine("sqlite://"); migrate(engine)
>>> store = WallStore(engine)
>>> wall = store.add(WallBody(name="main", title="指挥大厅", code="320612",
...                           slots=[Slot(name="left", kind="map")]), now=0.0)
>>> [w.name for w in store.list("320612")]
['main']
"""

from __future__ import annotations

from sqlalchemy import Engine, delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from zhizhi.console.auth.models import to_datetime
from zhizhi.console.walls.models import Slot, Wall, WallBody
from zhizhi.console.walls.tables import walls_table
from zhizhi.layers.scope import within_clause

_W = walls_table.c


class DuplicateWall(ValueError):
    """A wall of that name exists already in that jurisdiction."""


class WallStore:
    """The walls of one database."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def add(self, body: WallBody, now: float) -> Wall:
        """Store a new wall; :class:`DuplicateWall` when its name is taken in its jurisdiction."""
        values = _values(body) | {"created_ts": now, "updated_ts": now}
        try:
            with self.engine.begin() as conn:
                wall_id = conn.execute(insert(walls_table).values(**values)).inserted_primary_key[0]
        except IntegrityError:
            raise DuplicateWall(_taken(body)) from None
        return self.get(int(wall_id))  # type: ignore[return-value]

    def get(self, wall_id: int) -> Wall | None:
        """The wall ``wall_id``, or ``None``."""
        with self.engine.connect() as conn:
            row = conn.execute(select(walls_table).where(_W.id == wall_id)).first()
        return _wall(row) if row is not None else None

    def find(self, code: str, name: str) -> Wall | None:
        """The wall called ``name`` of the jurisdiction ``code``, or ``None``."""
        with self.engine.connect() as conn:
            row = conn.execute(select(walls_table).where(_W.code == code, _W.name == name)).first()
        return _wall(row) if row is not None else None

    def list(self, within: str) -> list[Wall]:
        """The walls of jurisdictions within ``within``, by jurisdiction and name."""
        query = select(walls_table).where(within_clause(_W.code, within)).order_by(_W.code, _W.name)
        with self.engine.connect() as conn:
            return [_wall(row) for row in conn.execute(query)]

    def replace(self, wall_id: int, body: WallBody, now: float) -> Wall | None:
        """Replace a wall's name, title, jurisdiction and slots; ``None`` when it is gone."""
        try:
            with self.engine.begin() as conn:
                changed = conn.execute(
                    update(walls_table).where(_W.id == wall_id).values(**_values(body), updated_ts=now)
                ).rowcount
        except IntegrityError:
            raise DuplicateWall(_taken(body)) from None
        return self.get(wall_id) if changed else None

    def delete(self, wall_id: int) -> bool:
        """Remove a wall (its devices and their tickets go with it); False when it was not there."""
        with self.engine.begin() as conn:
            return bool(conn.execute(delete(walls_table).where(_W.id == wall_id)).rowcount)


def _values(body: WallBody) -> dict:
    return {"code": body.code, "name": body.name, "title": body.title,
            "slots": [s.model_dump() for s in body.slots]}


def _taken(body: WallBody) -> str:
    return f"a wall called {body.name!r} exists already in jurisdiction {body.code}"


def _wall(row) -> Wall:
    m = row._mapping
    return Wall(id=m["id"], code=m["code"], name=m["name"], title=m["title"],
                slots=[Slot.model_validate(s) for s in m["slots"]],
                created_at=to_datetime(m["created_ts"]), updated_at=to_datetime(m["updated_ts"]))
