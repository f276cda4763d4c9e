"""The layer registry: named layers of WGS-84 features in SQLite/PostgreSQL, read by scope.

Every feature read goes through :mod:`layers.scope` (:func:`~layers.scope.feature_clause` in
SQL, then :func:`~layers.scope.apply_scope` on the geometries). A save writes the whole layer in
one transaction: on any error nothing stored changes.

Two spatial paths, same results. On PostgreSQL each feature also has a PostGIS ``geom``
(``ST_GeomFromWKB`` of the stored WKB, SRID 4326, GiST-indexed): bbox reads, the scope's
geometric test of ancestor-level features and :meth:`LayerRegistry.query_intersects` run in
SQL with ``ST_Intersects`` (``ST_MakeEnvelope`` for a bbox, the scope polygon as WKB), and the
scoped counts and extents pre-filter with ``&&`` on the index. On SQLite the stored bounds
pre-filter in SQL and shapely tests exactly. Clipping ancestor-level features to the scope is
shapely's on both (:func:`~layers.scope.apply_scope`), so geometries are the same bytes.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pydantic import BaseModel
from sqlalchemy import (
    JSON,
    ColumnElement,
    Engine,
    LargeBinary,
    bindparam,
    column,
    delete,
    func,
    insert,
    literal_column,
    or_,
    select,
    table,
    text,
    true,
    update,
)
from sqlalchemy.engine import Connection, RowMapping
from sqlalchemy.exc import IntegrityError

from zhizhi.gis.codes import InvalidCodeError, is_code_like, is_within, validate_code
from zhizhi.layers.crsinfo import WGS84
from zhizhi.layers.db import migrate
from zhizhi.layers.errors import LayerError
from zhizhi.layers.geometry import as_array, geometry_type_of
from zhizhi.layers.io import ImportLimits, export_layer, read_layer_file
from zhizhi.layers.models import KIND_PATTERN, NAME_PATTERN, VISIBILITIES, Feature, Layer, utcnow
from zhizhi.layers.props import json_object, records
from zhizhi.layers.scope import Scope, apply_scope, feature_clause, layer_clause, within_clause, within_mask
from zhizhi.layers.validate import check_lonlat

Bbox = tuple[float, float, float, float]
_LAYERS = Layer.__table__
_FEATURES = Feature.__table__
SRID = 4326
#: The PostGIS-only column of ``layer_features`` (made by the migrations on PostgreSQL).
_GEOM = literal_column("layer_features.geom")
#: SQLite's R*Tree over the features' boxes (made and kept by the migrations; not in the ORM).
_RTREE = table("layer_features_rtree", column("id"), column("minx"), column("maxx"), column("miny"),
               column("maxy"))
_PG_INSERT = text(
    "INSERT INTO layer_features "
    "(layer_id, fid, code, properties, geometry, minx, miny, maxx, maxy, geom) VALUES "
    "(:layer_id, :fid, :code, :properties, :geometry, :minx, :miny, :maxx, :maxy, "
    f"ST_GeomFromWKB(:geometry, {SRID}))"
).bindparams(bindparam("properties", type_=JSON), bindparam("geometry", type_=LargeBinary))


def _envelope(box: Sequence[float]) -> ColumnElement[Any]:
    return func.ST_MakeEnvelope(*(float(v) for v in box), SRID)


def _from_wkb(geometry: shapely.Geometry) -> ColumnElement[Any]:
    wkb = bindparam(None, shapely.to_wkb(geometry), type_=LargeBinary)
    return func.ST_GeomFromWKB(wkb, SRID)


def _clipped(codes: np.ndarray, scope: Scope) -> np.ndarray:
    """Which features :func:`~layers.scope.apply_scope` clips: those not within the scope."""
    if scope.is_everything or not len(codes):
        return np.zeros(len(codes), dtype=bool)
    return ~within_mask(codes, scope.code)


def _postgis_scope_clause(scope: Scope) -> ColumnElement[bool]:
    """In SQL, the geometric half of the scope: ancestor-level features must meet its polygon.

    With :func:`~layers.scope.feature_clause` (code within the scope, or a strict ancestor)
    this keeps the features within the scope and the ancestor ones that intersect it.
    """
    if scope.is_everything or not scope.ancestors or scope.geometry is None:
        return true()
    within = within_clause(Feature.code, scope.code)
    return or_(within, func.ST_Intersects(_GEOM, _from_wkb(scope.geometry)))


class LayerInfo(BaseModel):
    """A layer as the API shows it (no features)."""

    name: str
    title: str
    kind: str
    geometry_type: str
    style: dict[str, Any]
    owner_code: str
    visibility: Literal["shared", "private"]
    feature_count: int
    meta: dict[str, Any]
    fields: list[str] = []
    bounds: tuple[float, float, float, float] | None
    created_at: dt.datetime | None = None
    updated_at: dt.datetime | None = None

    @classmethod
    def from_row(cls, row: RowMapping) -> LayerInfo:
        bounds = None
        if row["minx"] is not None:
            bounds = (row["minx"], row["miny"], row["maxx"], row["maxy"])
        return cls(
            name=row["name"],
            title=row["title"],
            kind=row["kind"],
            geometry_type=row["geometry_type"],
            style=row["style"] or {},
            owner_code=row["owner_code"],
            visibility=row["visibility"],
            feature_count=row["feature_count"],
            meta=row["meta"] or {},
            fields=row["fields"] or [],
            bounds=bounds,
            created_at=row["created_at"],
            updated_at=row["updated_at"],
        )


# --- argument checks -------------------------------------------------------------------


def _check_name(name: str) -> str:
    if not isinstance(name, str) or not NAME_PATTERN.match(name):
        raise LayerError(
            "invalid_argument",
            f"invalid layer name {name!r}: 1-64 characters of a-z, 0-9, '_' and '-', "
            "starting with a letter or digit",
        )
    return name


def _check_args(name: str, owner_code: str, kind: str, visibility: str) -> None:
    _check_name(name)
    try:
        validate_code(owner_code)
    except InvalidCodeError as exc:
        raise LayerError("invalid_argument", f"owner_code: {exc}") from exc
    if not isinstance(kind, str) or not KIND_PATTERN.match(kind):
        raise LayerError(
            "invalid_argument", f"invalid kind {kind!r}: a-z, 0-9, '_' and '-', up to 32"
        )
    if visibility not in VISIBILITIES:
        raise LayerError(
            "invalid_argument", f"visibility must be 'shared' or 'private', got {visibility!r}"
        )


def _feature_codes(codes: Sequence[str | None] | None, n: int, owner: str) -> np.ndarray:
    """Each feature's jurisdiction code: ``owner`` by default and where ``None``."""
    if codes is None:
        return np.full(n, owner, dtype=object)
    arr = np.asarray(list(codes), dtype=object)
    if arr.shape != (n,):
        raise LayerError("invalid_argument", f"{len(arr)} codes given for {n} features")
    arr[pd.isna(arr)] = owner
    text = pd.Series(arr, dtype=object).map(str)
    well_formed = np.fromiter((is_code_like(c) for c in text), dtype=bool, count=n)
    related = np.fromiter(
        (is_within(c, owner) or is_within(owner, c) for c in text), dtype=bool, count=n
    )
    bad = np.flatnonzero(~(well_formed & related))
    if len(bad):
        raise LayerError(
            "invalid_argument",
            f"{len(bad)} feature code(s) are not jurisdiction codes within or above the owner "
            f"{owner}; first: feature {bad[0]}: {text.iloc[bad[0]]!r}",
            [
                {"index": int(i), "reason": f"code {text.iloc[i]!r} not within or above {owner}"}
                for i in bad
            ],
        )
    return text.to_numpy(dtype=object)


def _rtree_clause(box: Sequence[float]):
    """SQLite: the features whose R*Tree box meets ``box`` (a superset: the R*Tree keeps 32-bit
    boxes rounded outwards; the exact bounds are compared beside it)."""
    r = _RTREE.c
    return _FEATURES.c.id.in_(
        select(r.id).where(r.maxx >= box[0], r.minx <= box[2], r.maxy >= box[1], r.miny <= box[3])
    )


def _check_bbox(bbox: Sequence[float] | None) -> Bbox | None:
    if bbox is None:
        return None
    try:
        values = tuple(float(v) for v in bbox)
    except (TypeError, ValueError):
        values = ()
    if (
        len(values) != 4
        or not all(map(math.isfinite, values))
        or values[0] > values[2]
        or values[1] > values[3]
    ):
        raise LayerError(
            "invalid_argument", f"bbox must be (minlon, minlat, maxlon, maxlat), got {bbox!r}"
        )
    return values  # type: ignore[return-value]


# --- the registry ----------------------------------------------------------------------


def _refuse_foreign(name: str, owner_code: str, writer: Scope) -> None:
    """``forbidden`` unless ``writer`` may replace a layer owned by ``owner_code`` (its own
    jurisdiction or one below it)."""
    if not is_within(owner_code, writer.code):
        raise LayerError(
            "forbidden",
            f"layer {name!r} belongs to another jurisdiction: only its owner or a unit above it may "
            "replace it; choose another name",
        )


@dataclass(frozen=True)
class LayerOptions:
    """How a layer is stored (the keyword options of :meth:`LayerRegistry.save_layer`)."""

    kind: str
    owner_code: str
    title: str | None = None
    style: Mapping[str, Any] | None = None
    visibility: str = "shared"
    meta: Mapping[str, Any] | None = None
    codes: Sequence[str | None] | None = None
    replace: bool = True
    writer: Scope | None = None


@dataclass(frozen=True)
class _LayerWrite:
    """A layer checked and converted for writing (what :meth:`LayerRegistry._write` stores)."""

    name: str
    replace: bool
    writer: Scope | None
    values: dict[str, Any]
    n: int
    codes: np.ndarray
    props: pd.DataFrame
    wkb: np.ndarray
    bounds: np.ndarray
    now: dt.datetime


class LayerTransaction:
    """Writes on one open transaction of a :class:`LayerRegistry` (:meth:`LayerRegistry.transaction`)."""

    def __init__(self, registry: LayerRegistry, conn: Connection) -> None:
        self.registry = registry
        self.conn = conn

    def save_layer(self, name: str, gdf: gpd.GeoDataFrame, **options: Any) -> None:
        """:meth:`LayerRegistry.save_layer` inside this transaction (the same keyword options)."""
        self.registry._write(self.conn, self.registry._prepare(name, gdf, LayerOptions(**options)))

    def delete_layer(self, name: str) -> bool:
        """Delete layer ``name`` and its features if it exists; whether it did."""
        layer_id = self.conn.execute(select(_LAYERS.c.id).where(_LAYERS.c.name == name)).scalar()
        if layer_id is None:
            return False
        self.conn.execute(delete(_FEATURES).where(_FEATURES.c.layer_id == layer_id))
        self.conn.execute(delete(_LAYERS).where(_LAYERS.c.id == layer_id))
        return True


class LayerRegistry:
    """Named layers in one database, read through jurisdiction scopes."""

    def __init__(self, engine: Engine, *, chunk_size: int = 2000) -> None:
        self.engine = engine
        self.chunk_size = chunk_size
        migrate(engine)  # the schema (on PostgreSQL, the PostGIS geom it writes); cheap if done

    @property
    def postgis(self) -> bool:
        """Whether spatial tests run in PostGIS (PostgreSQL) rather than shapely (SQLite)."""
        return self.engine.dialect.name == "postgresql"

    # reads

    def list_layers(self, scope: Scope) -> list[LayerInfo]:
        """The layers ``scope`` may see, by name, with the count and extent the scope sees."""
        # By name in code-point order on both (PostgreSQL's collation may be a locale's).
        by_name = _LAYERS.c.name.collate("C") if self.postgis else _LAYERS.c.name
        query = select(_LAYERS).where(layer_clause(scope)).order_by(by_name)
        with self.engine.connect() as conn:
            rows = conn.execute(query).mappings().all()
            return [self._scoped_info(conn, row, scope) for row in rows]

    def get_layer(self, name: str, scope: Scope) -> LayerInfo:
        """One layer; ``not_found`` when missing or not visible (the two are indistinguishable)."""
        with self.engine.connect() as conn:
            return self._scoped_info(conn, self._visible_row(conn, name, scope), scope)

    def _scoped_info(self, conn: Connection, row: RowMapping, scope: Scope) -> LayerInfo:
        """Layer info whose ``feature_count`` and ``bounds`` cover only what ``scope`` sees.

        Ancestor-level features (a district road seen by a town) are counted when their box
        meets the scope's; their extent is cut to the scope's bounds.
        """
        info = LayerInfo.from_row(row)
        if scope.is_everything:
            return info
        f = _FEATURES.c
        where = [f.layer_id == row["id"], feature_clause(scope)]
        if scope.geometry is not None:
            sminx, sminy, smaxx, smaxy = shapely.bounds(scope.geometry).tolist()
            if self.postgis:  # the GiST index finds the candidates; the bounds decide
                where.append(_GEOM.op("&&")(_envelope((sminx, sminy, smaxx, smaxy))))
            else:  # the R*Tree finds them
                where.append(_rtree_clause((sminx, sminy, smaxx, smaxy)))
            where += [f.maxx >= sminx, f.minx <= smaxx, f.maxy >= sminy, f.miny <= smaxy]
        agg = select(
            func.count(), func.min(f.minx), func.min(f.miny), func.max(f.maxx), func.max(f.maxy)
        ).where(*where)
        count, minx, miny, maxx, maxy = conn.execute(agg).one()
        bounds = None
        if count:
            bounds = (minx, miny, maxx, maxy)
            if scope.geometry is not None:
                bounds = (max(minx, sminx), max(miny, sminy), min(maxx, smaxx), min(maxy, smaxy))
        return info.model_copy(update={"feature_count": int(count), "bounds": bounds})

    def _visible_row(self, conn: Connection, name: str, scope: Scope) -> RowMapping:
        query = select(_LAYERS).where(_LAYERS.c.name == name, layer_clause(scope))
        row = conn.execute(query).mappings().first()
        if row is None:
            raise LayerError("not_found", f"no layer named {name!r}")
        return row

    def _scoped(self, name: str, scope: Scope, bbox: Sequence[float] | None):
        """``(layer row, fids, codes, properties, geometries)`` visible to ``scope`` in ``bbox``."""
        box = _check_bbox(bbox)
        f = _FEATURES.c
        query = select(f.fid, f.code, f.properties, f.geometry)
        with self.engine.connect() as conn:
            layer = self._visible_row(conn, name, scope)
            query = query.where(f.layer_id == layer["id"], feature_clause(scope))
            if self.postgis:
                query = query.where(_postgis_scope_clause(scope))
                if box is not None:
                    query = query.where(func.ST_Intersects(_GEOM, _envelope(box)))
            elif box is not None:
                query = query.where(
                    _rtree_clause(box), f.maxx >= box[0], f.minx <= box[2], f.maxy >= box[1], f.miny <= box[3]
                )
            rows = conn.execute(query.order_by(f.fid)).all()
        fids = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
        codes = np.array([r[1] for r in rows], dtype=object)
        geoms = shapely.from_wkb(np.array([r[3] for r in rows], dtype=object))
        keep, geoms = apply_scope(codes, geoms, scope)
        if box is not None:
            # PostGIS tested the stored geometries; ancestor-level ones were clipped since.
            test = keep & _clipped(codes, scope) if self.postgis else keep
            keep[test] = shapely.intersects(geoms[test], shapely.box(*box))
        props = [r[2] or {} for r, k in zip(rows, keep) if k]
        return layer, fids[keep], codes[keep], props, as_array(geoms)[keep]

    def read_features(
        self, name: str, scope: Scope, bbox: Sequence[float] | None = None
    ) -> gpd.GeoDataFrame:
        """The visible features as a WGS-84 GeoDataFrame: properties, ``code``, geometry; index ``fid``."""
        layer, fids, codes, props, geoms = self._scoped(name, scope, bbox)
        index = pd.Index(fids, name="fid")
        frame = (
            pd.DataFrame.from_records(props, index=index) if props else pd.DataFrame(index=index)
        )
        fields = [f for f in layer["fields"] or [] if f != "code"]
        frame = frame.reindex(columns=fields + [c for c in frame.columns if c not in fields])
        frame["code"] = codes
        return gpd.GeoDataFrame(frame, geometry=gpd.GeoSeries(geoms, index=frame.index), crs=WGS84)

    def feature_collection(
        self, name: str, scope: Scope, bbox: Sequence[float] | None = None
    ) -> dict[str, Any]:
        """The visible features as a GeoJSON FeatureCollection dict (``code`` in properties)."""
        _, fids, codes, props, geoms = self._scoped(name, scope, bbox)
        texts = shapely.to_geojson(geoms) if len(geoms) else []
        features = [
            {
                "type": "Feature",
                "id": int(fid),
                "properties": {**p, "code": code},
                "geometry": json.loads(g),
            }
            for fid, code, p, g in zip(fids, codes, props, texts)
        ]
        return {"type": "FeatureCollection", "features": features}

    def query_intersects(
        self, name: str, geometry: shapely.Geometry, scope: Scope | None = None
    ) -> np.ndarray:
        """The fids (sorted, int64) of the features ``scope`` sees that intersect ``geometry``.

        What is tested is what a read returns: a feature within the scope whole, an
        ancestor-level one clipped to the scope. PostgreSQL: ``ST_Intersects`` on the GiST
        index in SQL (only ancestor-level hits are clipped in shapely). SQLite: the stored
        bounds pre-filter in SQL, then a vectorised shapely test against the prepared
        ``geometry``. ``scope`` ``None`` is :meth:`Scope.everything`.
        """
        scope = scope if scope is not None else Scope.everything()
        if not isinstance(geometry, shapely.Geometry) or shapely.is_empty(geometry):
            raise LayerError("invalid_argument", "query_intersects needs a non-empty geometry")
        check_lonlat(np.array([geometry], dtype=object), says="the query geometry")
        f = _FEATURES.c
        with self.engine.connect() as conn:
            layer_id = self._visible_row(conn, name, scope)["id"]
            base = [f.layer_id == layer_id, feature_clause(scope)]
            if self.postgis:
                hit = func.ST_Intersects(_GEOM, _from_wkb(geometry))
                within = (
                    true()
                    if scope.is_everything
                    else within_clause(f.code, scope.code)
                )
                found = conn.execute(select(f.fid).where(*base, within, hit)).scalars().all()
                rows = []
                if not scope.is_everything and scope.ancestors and scope.geometry is not None:
                    rows = conn.execute(
                        select(f.fid, f.code, f.geometry).where(
                            *base, ~within, hit, _postgis_scope_clause(scope)
                        )
                    ).all()
            else:
                found = []
                minx, miny, maxx, maxy = shapely.bounds(geometry).tolist()
                rows = conn.execute(
                    select(f.fid, f.code, f.geometry).where(
                        *base, _rtree_clause((minx, miny, maxx, maxy)),
                        f.maxx >= minx, f.minx <= maxx, f.maxy >= miny, f.miny <= maxy,
                    )
                ).all()
        fids = np.array(found, dtype=np.int64)
        if rows:
            codes = np.array([r[1] for r in rows], dtype=object)
            geoms = shapely.from_wkb(np.array([r[2] for r in rows], dtype=object))
            keep, geoms = apply_scope(codes, geoms, scope)
            shapely.prepare(geometry)
            keep[keep] = shapely.intersects(geoms[keep], geometry)
            more = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))[keep]
            fids = np.concatenate([fids, more])
        return np.sort(fids)

    def export(self, name: str, scope: Scope, fmt: str) -> bytes:
        """The visible features as ``geojson``, ``gpkg`` or ``shp.zip`` bytes."""
        gdf = self.read_features(name, scope).reset_index(drop=True)
        return export_layer(gdf, fmt, layer_name=name)

    # writes

    def save_layer(
        self,
        name: str,
        gdf: gpd.GeoDataFrame,
        *,
        kind: str,
        owner_code: str,
        title: str | None = None,
        style: Mapping[str, Any] | None = None,
        visibility: str = "shared",
        meta: Mapping[str, Any] | None = None,
        codes: Sequence[str | None] | None = None,
        replace: bool = True,
        writer: Scope | None = None,
    ) -> LayerInfo:
        """Store ``gdf`` as layer ``name`` in one transaction, replacing it when ``replace``.

        ``codes``: each feature's jurisdiction code (``None`` or omitted: ``owner_code``); each
        must lie within or above the owner. A ``code`` column that disagrees with them is kept
        as ``source_code`` (``code`` in reads is always the jurisdiction code). On any error the
        transaction rolls back: the stored layer, if any, and every other layer are untouched.
        ``writer``: who writes (default: unrestricted); it may replace only a layer owned within
        its jurisdiction (``forbidden`` otherwise: a town never replaces a district's or a
        neighbour's layer), checked in the same transaction as the replacement.
        """
        options = LayerOptions(kind=kind, owner_code=owner_code, title=title, style=style, visibility=visibility,
                               meta=meta, codes=codes, replace=replace, writer=writer)
        prepared = self._prepare(name, gdf, options)
        try:
            with self.engine.begin() as conn:
                self._write(conn, prepared)
        except IntegrityError as exc:
            raise LayerError(
                "exists", f"layer {name!r} was created concurrently; try again"
            ) from exc
        return self.get_layer(name, Scope.everything())

    @contextmanager
    def transaction(self) -> Iterator[LayerTransaction]:
        """Several writes that commit together or not at all (an imported hierarchy's layers)."""
        with self.engine.begin() as conn:
            yield LayerTransaction(self, conn)

    def _prepare(self, name: str, gdf: gpd.GeoDataFrame, options: LayerOptions) -> _LayerWrite:
        """Check and convert everything a write of :meth:`save_layer` needs, before any SQL."""
        kind, owner_code, title, style = options.kind, options.owner_code, options.title, options.style
        visibility, meta, codes = options.visibility, options.meta, options.codes
        replace, writer = options.replace, options.writer
        _check_args(name, owner_code, kind, visibility)
        style_d = json_object(style, "style")
        meta_d = json_object(meta, "meta")
        if gdf.crs is not None and not gdf.crs.equals(WGS84, ignore_axis_order=True):
            gdf = gdf.to_crs(WGS84)
        geoms = shapely.force_2d(as_array(gdf.geometry))
        missing = shapely.is_missing(geoms) | shapely.is_empty(geoms)
        if missing.any():
            raise LayerError(
                "invalid_geometry",
                f"{int(missing.sum())} feature(s) without geometry",
                [
                    {"index": int(i), "reason": "null or empty geometry"}
                    for i in np.flatnonzero(missing)
                ],
            )
        check_lonlat(geoms, says="a layer must be WGS-84 lon/lat")
        n = len(geoms)
        feature_codes = _feature_codes(codes, n, owner_code)
        props = pd.DataFrame(gdf.drop(columns=gdf.geometry.name)).reset_index(drop=True)
        if "code" in props and (props["code"].astype(str).to_numpy() != feature_codes).any():
            props = props.rename(columns={"code": "source_code"})
        wkb = shapely.to_wkb(geoms)
        bounds = shapely.bounds(geoms)
        total = (
            (
                float(bounds[:, 0].min()),
                float(bounds[:, 1].min()),
                float(bounds[:, 2].max()),
                float(bounds[:, 3].max()),
            )
            if n
            else (None, None, None, None)
        )
        now = utcnow()
        values = {
            "title": title or name,
            "kind": kind,
            "geometry_type": geometry_type_of(geoms),
            "style": style_d,
            "owner_code": owner_code,
            "visibility": visibility,
            "meta": meta_d,
            "fields": [str(c) for c in props.columns],
            "feature_count": n,
            "minx": total[0],
            "miny": total[1],
            "maxx": total[2],
            "maxy": total[3],
            "updated_at": now,
        }
        return _LayerWrite(name, replace, writer, values, n, feature_codes, props, wkb, bounds, now)

    def _write(self, conn: Connection, w: _LayerWrite) -> None:
        """Write a prepared layer on ``conn`` (inside the caller's transaction)."""
        name, replace, writer, values, n, now = w.name, w.replace, w.writer, w.values, w.n, w.now
        feature_codes, props, wkb, bounds = w.codes, w.props, w.wkb, w.bounds
        existing = conn.execute(
            select(_LAYERS.c.id, _LAYERS.c.owner_code).where(_LAYERS.c.name == name)
        ).first()
        layer_id = None if existing is None else existing.id
        if existing is not None and not replace:
            raise LayerError(
                "exists", f"layer {name!r} exists (pass replace=True to replace it)"
            )
        if existing is not None and writer is not None:
            _refuse_foreign(name, existing.owner_code, writer)
        if layer_id is None:
            layer_id = conn.execute(
                insert(_LAYERS).values(name=name, created_at=now, **values)
            ).inserted_primary_key[0]
        else:
            conn.execute(delete(_FEATURES).where(_FEATURES.c.layer_id == layer_id))
            conn.execute(update(_LAYERS).where(_LAYERS.c.id == layer_id).values(**values))
        for start in range(0, n, self.chunk_size):
            stop = min(start + self.chunk_size, n)
            self._insert_features(
                conn,
                layer_id,
                start,
                feature_codes[start:stop],
                records(props.iloc[start:stop], start),
                wkb[start:stop],
                bounds[start:stop],
            )

    def _insert_features(
        self,
        conn: Connection,
        layer_id: int,
        start: int,
        codes: np.ndarray,
        props: list[dict[str, Any]],
        wkb: np.ndarray,
        bounds: np.ndarray,
    ) -> None:
        rows = [
            {
                "layer_id": layer_id,
                "fid": start + i,
                "code": code,
                "properties": p,
                "geometry": g,
                "minx": b[0],
                "miny": b[1],
                "maxx": b[2],
                "maxy": b[3],
            }
            for i, (code, p, g, b) in enumerate(zip(codes, props, wkb, bounds.tolist()))
        ]
        # PostgreSQL: the same row plus its PostGIS geometry, made from the same WKB.
        conn.execute(_PG_INSERT if self.postgis else insert(_FEATURES), rows)

    def import_file(
        self,
        path: Path,
        name: str,
        *,
        owner_code: str,
        limits: Any,
        declared_crs: str | None = None,
        make_valid: bool = False,
        kind: str = "custom",
        title: str | None = None,
        style: Mapping[str, Any] | None = None,
        visibility: str = "shared",
        meta: Mapping[str, Any] | None = None,
        assign_codes: Callable[[gpd.GeoSeries], Sequence[str | None]] | None = None,
        original_name: str | None = None,
        replace: bool = True,
        encoding: str | None = None,
        writer: Scope | None = None,
    ) -> LayerInfo:
        """Read a layer file (:func:`layers.io.read_layer_file`) and save it as layer ``name``.

        ``assign_codes`` maps the WGS-84 geometries to feature jurisdiction codes (default:
        ``owner_code`` for all). ``writer`` as for :meth:`save_layer` (checked before the file
        is read, and again when it is stored). A failure at any step leaves every stored layer
        as it was.
        """
        _check_args(name, owner_code, kind, visibility)
        if not replace and self._exists(name):
            raise LayerError("exists", f"layer {name!r} exists (pass replace=True to replace it)")
        if writer is not None:
            self._check_writer(name, writer)
        result = read_layer_file(
            Path(path),
            declared_crs=declared_crs,
            limits=ImportLimits.coerce(limits),
            make_valid=make_valid,
            original_name=original_name,
            encoding=encoding,
        )
        codes = assign_codes(result.gdf.geometry) if assign_codes is not None else None
        info = {
            "source_file": result.source_name,
            "source_format": result.format,
            "source_layer": result.source_layer,
            "source_crs": result.source_crs,
            "repaired": result.repaired,
            "synthetic": False,
        }
        return self.save_layer(
            name,
            result.gdf,
            kind=kind,
            owner_code=owner_code,
            title=title,
            style=style,
            visibility=visibility,
            meta={**info, **(meta or {})},
            codes=codes,
            replace=replace,
            writer=writer,
        )

    def _check_writer(self, name: str, writer: Scope) -> None:
        """``forbidden`` when layer ``name`` exists and is owned outside ``writer``'s jurisdiction."""
        with self.engine.connect() as conn:
            owner = conn.execute(select(_LAYERS.c.owner_code).where(_LAYERS.c.name == name)).scalar()
        if owner is not None:
            _refuse_foreign(name, owner, writer)

    def delete_layer(self, name: str) -> None:
        """Delete a layer and its features; ``not_found`` if there is none."""
        with self.engine.begin() as conn:
            layer_id = conn.execute(select(_LAYERS.c.id).where(_LAYERS.c.name == name)).scalar()
            if layer_id is None:
                raise LayerError("not_found", f"no layer named {name!r}")
            conn.execute(delete(_FEATURES).where(_FEATURES.c.layer_id == layer_id))
            conn.execute(delete(_LAYERS).where(_LAYERS.c.id == layer_id))

    def _exists(self, name: str) -> bool:
        with self.engine.connect() as conn:
            return (
                conn.execute(select(_LAYERS.c.id).where(_LAYERS.c.name == name)).scalar()
                is not None
            )
