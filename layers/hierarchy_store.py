"""An imported jurisdiction hierarchy stored in one transaction, and every other layer re-coded.

The hierarchy lives in the layers ``towns``, ``villages``, ``grids`` (comprehensive and dedicated
grids, ``kind`` in their properties) and ``micro_grids`` (when the county has them), owned by the
district, with the district's code and name in the grids layer's ``meta`` (``imported: true``:
the demo never overwrites it, :func:`zhizhi.console.demo_district.needs_install`).

Each feature of every other layer gets the code of the smallest new unit that covers it
(:meth:`~zhizhi.gis.jurisdiction.Jurisdictions.lowest_containing`), which is what scoping reads;
a layer whose owner is no longer a unit passes to the district. Alerts and incidents keep the
codes they were stored with. Anything raised inside rolls the whole transaction back.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

import geopandas as gpd
import numpy as np
import shapely
from pydantic import BaseModel
from sqlalchemy import bindparam, select, update
from sqlalchemy.engine import Connection

from zhizhi.gis.codes import is_within
from zhizhi.gis.jurisdiction import Jurisdictions
from zhizhi.layers.errors import LayerError
from zhizhi.layers.models import Feature, Layer
from zhizhi.layers.registry import LayerRegistry
from zhizhi.layers.scope import Scope

HIERARCHY_LAYERS: tuple[str, ...] = ("towns", "villages", "grids", "micro_grids")
_KINDS = {"towns": "town", "villages": "village", "grids": "grid", "micro_grids": "micro_grid"}
_TITLES = {
    "towns": "镇街 Towns", "villages": "村社区 Villages", "grids": "网格 Grids", "micro_grids": "微网格 Micro-grids",
}
_STYLES: dict[str, dict[str, Any]] = {
    "towns": {"color": "#4fc3f7", "weight": 3, "fill": False},
    "villages": {"color": "#81d4fa", "weight": 1.5, "dashArray": "4 4", "fill": False},
    "grids": {"color": "#607d8b", "weight": 0.6, "fillOpacity": 0.03},
    "micro_grids": {"color": "#546e7a", "weight": 0.4, "fill": False},
}
_F, _L = Feature.__table__, Layer.__table__


class StoredHierarchy(BaseModel):
    """What storing changed besides the hierarchy layers."""

    district_code: str
    district_name: str
    recoded: dict[str, int] = {}  # layer -> features whose code changed
    reowned: dict[str, str] = {}  # layer -> its former owner, no longer a unit (now the district's)


def hierarchy_tables(jurisdictions: Jurisdictions, tables: Mapping[str, gpd.GeoDataFrame | None]) -> dict:
    """The layers to write: code, name, parent (and kind for grids) with WGS-84 geometry."""
    out: dict[str, gpd.GeoDataFrame] = {}
    for name in HIERARCHY_LAYERS:
        table = tables.get(name)
        if table is None:
            continue
        columns = ["code", "name", "parent"] + (["kind"] if name in ("grids", "micro_grids") else [])
        frame = gpd.GeoDataFrame(
            {c: table[c].astype(object).where(table[c].notna(), None).to_numpy() for c in columns},
            geometry=shapely.make_valid(np.asarray(table.geometry.values)), crs=4326,
        )
        if name == "towns":
            frame["parent"] = jurisdictions.district_code
        out[name] = frame
    return out


def replace_hierarchy(
    registry: LayerRegistry,
    jurisdictions: Jurisdictions,
    tables: Mapping[str, gpd.GeoDataFrame | None],
    meta: Mapping[str, Any],
    also: Callable[[Connection], None] | None = None,
) -> StoredHierarchy:
    """Replace the stored hierarchy with ``tables`` (checked, as ``jurisdictions`` holds them) and
    re-code every other layer, in one transaction; ``also(conn)`` runs inside it last (users).

    The codes of ``jurisdictions`` must be the installed code book while this runs
    (:func:`zhizhi.gis.codes.install_book`), so that imported codes pass the layer checks.
    """
    district = jurisdictions.district_code
    name = jurisdictions.get(district).name
    layers = hierarchy_tables(jurisdictions, tables)
    stamp = {**meta, "district_code": district, "district_name": name, "imported": True, "synthetic": False,
             "imported_at": time.time()}
    result = StoredHierarchy(district_code=district, district_name=name)
    with registry.transaction() as tx:
        for layer in HIERARCHY_LAYERS:
            if layer not in layers:
                tx.delete_layer(layer)
                continue
            tx.save_layer(
                layer, layers[layer], kind=_KINDS[layer], owner_code=district, title=_TITLES[layer],
                style=_STYLES[layer], visibility="shared", meta=stamp,
                codes=layers[layer]["code"].tolist(),
            )
        _recode_layers(registry, tx.conn, jurisdictions, result)
        if also is not None:
            also(tx.conn)
    return result


def _recode_layers(
    registry: LayerRegistry, conn: Connection, jurisdictions: Jurisdictions, result: StoredHierarchy
) -> None:
    district = jurisdictions.district_code
    others = conn.execute(
        select(_L.c.id, _L.c.name, _L.c.owner_code).where(_L.c.name.not_in(HIERARCHY_LAYERS))
    ).all()
    for layer_id, name, owner in others:
        if owner not in jurisdictions:
            conn.execute(update(_L).where(_L.c.id == layer_id).values(owner_code=district))
            result.reowned[name] = owner
            owner = district
        rows = conn.execute(select(_F.c.id, _F.c.code, _F.c.geometry).where(_F.c.layer_id == layer_id)).all()
        if not rows:
            continue
        geoms = shapely.from_wkb(np.array([r[2] for r in rows], dtype=object))
        codes = np.array(jurisdictions.lowest_containing(geoms), dtype=object)
        related = np.fromiter((is_within(c, owner) or is_within(owner, c) for c in codes), bool, len(codes))
        codes[~related] = owner
        changed = [{"row_id": r[0], "new_code": c} for r, c in zip(rows, codes) if r[1] != c]
        if changed:
            conn.execute(
                update(_F).where(_F.c.id == bindparam("row_id")).values(code=bindparam("new_code")), changed
            )
            result.recoded[name] = len(changed)


def stored_revision(registry: LayerRegistry) -> str | None:
    """What changes when the stored hierarchy is replaced (the grids layer's update time)."""
    try:
        info = registry.get_layer("grids", Scope.everything())
    except LayerError:  # no grids layer yet: nothing to compare
        return None
    return f"{info.meta.get('imported_at') if info.meta else None}/{info.feature_count}/{info.updated_at}"


__all__ = ["HIERARCHY_LAYERS", "StoredHierarchy", "replace_hierarchy", "stored_revision"]
