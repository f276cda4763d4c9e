"""The registry on SQLite and PostgreSQL/PostGIS (``db_url``): atomic saves, scoped reads, bbox
queries, import/export."""

from __future__ import annotations

import json

import geopandas as gpd
import numpy as np
import pytest
import shapely
from sqlalchemy import select, text

from tests.layers_fixtures import (
    DISTRICT,
    GEOMS,
    LIMITS,
    NANTONG,
    TOWN_A,
    TOWN_B,
    VILLAGE_A1,
    VILLAGE_A2,
    assign_codes,
    collection,
    feature,
    make_registry,
    point,
    polygon,
    scope,
    snapshot,
    write_json,
    write_zip,
)
from zhizhi.layers import LayerError, LayerInfo, LayerRegistry, Scope
from zhizhi.layers.models import Feature, Layer

EVERYTHING = Scope.everything()
ROAD = shapely.LineString([(120.1, 32.25), (120.9, 32.25)])  # crosses towns A and B


def pois() -> gpd.GeoDataFrame:
    """Points in A (two villages) and B, and a district road crossing both towns."""
    return gpd.GeoDataFrame(
        {
            "name": ["a-south", "a-north", "b-1", "b-2", "road"],
            "n": [1, 2, 3, 4, 5],
        },
        geometry=[
            shapely.Point(120.2, 32.2),
            shapely.Point(120.3, 32.8),
            shapely.Point(120.7, 32.3),
            shapely.Point(120.8, 32.9),
            ROAD,
        ],
        crs=4326,
    )


def pois_codes() -> list[str]:
    return [VILLAGE_A1, VILLAGE_A2, TOWN_B, TOWN_B, DISTRICT]


@pytest.fixture
def registry(db_url) -> LayerRegistry:
    reg = make_registry(db_url)
    reg.save_layer(
        "pois",
        pois(),
        kind="custom",
        owner_code=DISTRICT,
        codes=pois_codes(),
        style={"color": "#f00"},
    )
    towns = gpd.GeoDataFrame(
        {"code": [TOWN_A, TOWN_B], "name": ["A镇", "B镇"]},
        geometry=[GEOMS[TOWN_A], GEOMS[TOWN_B]],
        crs=4326,
    )
    reg.save_layer("towns", towns, kind="town", owner_code=DISTRICT, codes=[TOWN_A, TOWN_B])
    reg.save_layer(
        "b-private",
        gpd.GeoDataFrame({"x": [1]}, geometry=[shapely.Point(120.7, 32.7)], crs=4326),
        kind="zone",
        owner_code=TOWN_B,
        visibility="private",
    )
    reg.save_layer(
        "b-shared",
        gpd.GeoDataFrame({"x": [2]}, geometry=[shapely.Point(120.7, 32.6)], crs=4326),
        kind="zone",
        owner_code=TOWN_B,
    )
    return reg


# --- engine and schema -----------------------------------------------------------------


def test_engine_settings(registry):
    """SQLite: WAL, foreign keys, busy timeout. PostgreSQL: psycopg 3 and PostGIS geometries."""
    with registry.engine.connect() as conn:
        if registry.engine.dialect.name == "sqlite":
            assert not registry.postgis
            assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
            assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1
            assert conn.execute(text("PRAGMA busy_timeout")).scalar() >= 1000
        else:
            assert registry.postgis and registry.engine.dialect.driver == "psycopg"
            missing = conn.execute(
                text("SELECT count(*) FROM layer_features WHERE geom IS NULL")
            ).scalar()
            assert missing == 0
            same = conn.execute(
                text("SELECT bool_and(ST_Equals(geom, ST_GeomFromWKB(geometry, 4326)) "
                     "AND ST_SRID(geom) = 4326) FROM layer_features")
            ).scalar()
            assert same is True


def test_delete_cascades_and_not_found(registry):
    registry.delete_layer("pois")
    with pytest.raises(LayerError) as info:
        registry.get_layer("pois", EVERYTHING)
    assert info.value.code == "not_found"
    with registry.engine.connect() as conn:
        layer_ids = {r[0] for r in conn.execute(select(Layer.id))}
        assert {r[0] for r in conn.execute(select(Feature.layer_id).distinct())} <= layer_ids
    with pytest.raises(LayerError) as info:
        registry.delete_layer("pois")
    assert info.value.code == "not_found"


def test_cascade_by_foreign_key(registry):
    with registry.engine.begin() as conn:
        conn.execute(Layer.__table__.delete().where(Layer.name == "towns"))
    with registry.engine.connect() as conn:
        orphans = conn.execute(
            text(
                "SELECT COUNT(*) FROM layer_features WHERE layer_id NOT IN (SELECT id FROM layers)"
            )
        ).scalar()
    assert orphans == 0


# --- layer info and round trip ---------------------------------------------------------


def test_layer_info(registry):
    info = registry.get_layer("pois", EVERYTHING)
    assert isinstance(info, LayerInfo)
    assert (info.name, info.title, info.kind, info.owner_code, info.visibility) == (
        "pois",
        "pois",
        "custom",
        DISTRICT,
        "shared",
    )
    assert (
        info.geometry_type == "Geometry"
        and info.feature_count == 5
        and info.style == {"color": "#f00"}
    )
    assert info.bounds == pytest.approx((120.1, 32.2, 120.9, 32.9))
    assert registry.get_layer("towns", EVERYTHING).geometry_type == "Polygon"
    json.loads(info.model_dump_json())


def test_feature_collection_round_trip(registry):
    fc = registry.feature_collection("pois", EVERYTHING)
    assert fc["type"] == "FeatureCollection" and len(fc["features"]) == 5
    first = fc["features"][0]
    assert first["id"] == 0
    assert first["properties"] == {"name": "a-south", "n": 1, "code": VILLAGE_A1}
    assert first["geometry"] == {"type": "Point", "coordinates": [120.2, 32.2]}
    gdf = registry.read_features("pois", EVERYTHING)
    assert gdf.crs.to_epsg() == 4326 and gdf.index.name == "fid"
    assert gdf["code"].tolist() == pois_codes()
    assert shapely.equals_exact(gdf.geometry.values, pois().geometry.values, tolerance=0).all()


def test_code_column_that_disagrees_is_kept_as_source_code(db_url):
    reg = make_registry(db_url)
    gdf = gpd.GeoDataFrame({"code": ["X-1"]}, geometry=[shapely.Point(120.1, 32.1)], crs=4326)
    reg.save_layer("c", gdf, kind="custom", owner_code=TOWN_A)
    props = reg.feature_collection("c", EVERYTHING)["features"][0]["properties"]
    assert props == {"source_code": "X-1", "code": TOWN_A}


def test_properties_are_made_json_safe(db_url):
    reg = make_registry(db_url)
    gdf = gpd.GeoDataFrame(
        {
            "f": [np.float32(1.5), np.nan],
            "i": np.array([7, 8], dtype=np.int64),
            "b": [np.bool_(True), False],
            "t": [gpd.pd.Timestamp("2026-01-02T03:04:05"), None],
            "l": [np.array([1, 2]), {"k": np.int32(3)}],
        },
        geometry=[shapely.Point(120.1, 32.1), shapely.Point(120.2, 32.2)],
        crs=4326,
    )
    reg.save_layer("j", gdf, kind="custom", owner_code=TOWN_A)
    props = [f["properties"] for f in reg.feature_collection("j", EVERYTHING)["features"]]
    assert props == [
        {"f": 1.5, "i": 7, "b": True, "t": "2026-01-02T03:04:05", "l": [1, 2], "code": TOWN_A},
        {"f": None, "i": 8, "b": False, "t": None, "l": {"k": 3}, "code": TOWN_A},
    ]


def test_replace_false_refuses_existing(registry):
    before = snapshot(registry)
    with pytest.raises(LayerError) as info:
        registry.save_layer("pois", pois(), kind="custom", owner_code=DISTRICT, replace=False)
    assert info.value.code == "exists"
    assert snapshot(registry) == before


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"name": "Bad Name"}, "invalid layer name"),
        ({"name": "-x"}, "invalid layer name"),
        ({"owner_code": "3206"}, "owner_code"),
        ({"visibility": "public"}, "visibility"),
        ({"kind": "Town!"}, "invalid kind"),
        ({"codes": [TOWN_A] * 4}, "4 codes given for 5 features"),
        ({"codes": [TOWN_A, TOWN_A, TOWN_A, "320613001", "abc"]}, "2 feature code(s)"),
        ({"style": {"color": object()}}, "style is not JSON-serialisable"),
    ],
)
def test_bad_arguments(registry, kwargs, fragment):
    before = snapshot(registry)
    args = {"name": "pois", "kind": "custom", "owner_code": DISTRICT, **kwargs}
    with pytest.raises(LayerError) as info:
        registry.save_layer(args.pop("name"), pois(), **args)
    assert info.value.code == "invalid_argument"
    assert fragment in info.value.message
    assert snapshot(registry) == before


def test_codes_details_name_each_bad_feature(registry):
    with pytest.raises(LayerError) as info:
        registry.save_layer(
            "x",
            pois(),
            kind="custom",
            owner_code=TOWN_A,
            codes=[TOWN_A, TOWN_B, DISTRICT, None, "9"],
        )
    assert info.value.details == [
        {"index": 1, "reason": f"code '{TOWN_B}' not within or above {TOWN_A}"},
        {"index": 4, "reason": f"code '9' not within or above {TOWN_A}"},
    ]


# --- atomicity -------------------------------------------------------------------------


def _big_layer(n: int) -> gpd.GeoDataFrame:
    rng = np.random.default_rng(1)
    return gpd.GeoDataFrame(
        {"n": np.arange(n), "label": [f"p{i}" for i in range(n)]},
        geometry=shapely.points(120 + rng.random(n) * 0.5, 32 + rng.random(n)),
        crs=4326,
    )


def test_failed_imports_leave_everything_untouched(registry, tmp_path):
    before = snapshot(registry)
    bowtie = polygon([[120.0, 32.0], [120.1, 32.1], [120.1, 32.0], [120.0, 32.1], [120.0, 32.0]])
    unclosed = polygon([[120, 32], [120.1, 32], [120.1, 32.1], [120, 32.1]])
    cases = {
        "invalid_geometry": write_json(
            tmp_path / "bow.geojson", collection([feature(point(120.1, 32.1)), feature(bowtie)])
        ),
        "malformed": write_json(tmp_path / "open.geojson", collection([feature(unclosed)])),
        "projected_as_degrees": write_json(
            tmp_path / "utm.geojson", collection([feature(point(350_000, 3_540_000))])
        ),
        "empty": write_json(tmp_path / "none.geojson", collection([])),
        "unsafe_archive": write_zip(tmp_path / "evil.zip", {"../evil.shp": b"x", "a.shp": b"y"}),
        "unsupported_format": write_zip(tmp_path / "noshp.zip", {"a.txt": b"x"}),
    }
    for code, path in cases.items():
        with pytest.raises(LayerError) as info:
            registry.import_file(path, "pois", owner_code=DISTRICT, limits=LIMITS)
        assert info.value.code == code, path
        assert snapshot(registry) == before
    with pytest.raises(LayerError) as info:
        registry.import_file(
            cases["empty"], "pois", owner_code=DISTRICT, limits=LIMITS, declared_crs="nowhere"
        )
    assert info.value.code == "bad_crs"
    assert snapshot(registry) == before


def test_unserialisable_property_midway_rolls_back(registry):
    before = snapshot(registry)
    gdf = _big_layer(5000)
    gdf["bad"] = None
    gdf.loc[4500, "bad"] = object()
    registry.chunk_size = 1000  # four chunks are written before the bad row is reached
    with pytest.raises(LayerError) as info:
        registry.save_layer("pois", gdf, kind="custom", owner_code=DISTRICT)
    assert info.value.code == "invalid_argument"
    assert info.value.details[0]["index"] == 4500 and "'bad'" in info.value.details[0]["reason"]
    assert snapshot(registry) == before


def test_insert_failing_midway_rolls_back(registry, monkeypatch):
    before = snapshot(registry)
    calls = []
    original = LayerRegistry._insert_features

    def flaky(self, *args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            raise RuntimeError("disk on fire")
        return original(self, *args, **kwargs)

    monkeypatch.setattr(LayerRegistry, "_insert_features", flaky)
    registry.chunk_size = 1000
    with pytest.raises(RuntimeError, match="disk on fire"):
        registry.save_layer("pois", _big_layer(5000), kind="custom", owner_code=DISTRICT)
    with pytest.raises(RuntimeError, match="disk on fire"):
        calls.clear()
        registry.save_layer("brand-new", _big_layer(5000), kind="custom", owner_code=DISTRICT)
    assert len(calls) == 3
    assert snapshot(registry) == before
    with pytest.raises(LayerError) as info:
        registry.get_layer("brand-new", EVERYTHING)
    assert info.value.code == "not_found"


def test_successful_replace(registry, tmp_path):
    path = write_json(
        tmp_path / "p.geojson", collection([feature(point(120.3, 32.3), name="only")])
    )
    other = registry.feature_collection("towns", EVERYTHING)
    info = registry.import_file(
        path,
        "pois",
        owner_code=TOWN_A,
        limits=LIMITS,
        assign_codes=assign_codes,
        original_name="点.geojson",
    )
    assert info.feature_count == 1 and info.owner_code == TOWN_A
    assert info.meta == {
        "source_file": "点.geojson",
        "source_format": "geojson",
        "source_layer": None,
        "source_crs": "wgs84",
        "repaired": 0,
        "synthetic": False,
    }
    assert [
        f["properties"] for f in registry.feature_collection("pois", EVERYTHING)["features"]
    ] == [{"name": "only", "code": VILLAGE_A1}]
    assert registry.feature_collection("towns", EVERYTHING) == other


# --- scoping ---------------------------------------------------------------------------


def _names(reg: LayerRegistry, name: str, s: Scope, bbox=None) -> list[str]:
    return [
        f["properties"].get("name") for f in reg.feature_collection(name, s, bbox=bbox)["features"]
    ]


def test_town_sees_only_its_own_features(registry):
    assert _names(registry, "pois", scope(TOWN_A)) == ["a-south", "a-north", "road"]
    assert _names(registry, "pois", scope(TOWN_B)) == ["b-1", "b-2", "road"]
    assert _names(registry, "pois", scope(VILLAGE_A1)) == ["a-south", "road"]
    assert _names(registry, "pois", scope(VILLAGE_A2)) == ["a-north"]  # road is in the south
    assert _names(registry, "pois", scope(DISTRICT)) == ["a-south", "a-north", "b-1", "b-2", "road"]
    gdf = registry.read_features("pois", scope(TOWN_A))
    assert not gdf["code"].isin([TOWN_B]).any()


def test_bbox_over_sibling_area_returns_nothing_of_the_sibling(registry):
    b_area = GEOMS[TOWN_B].bounds
    assert _names(registry, "pois", scope(TOWN_A), bbox=b_area) == ["road"]  # touches at 120.5 only
    road = registry.read_features("pois", scope(TOWN_A), bbox=b_area).geometry.iloc[0]
    assert road.bounds[2] == pytest.approx(120.5)
    inner_b = (120.6, 32.1, 120.95, 32.95)
    assert _names(registry, "pois", scope(TOWN_A), bbox=inner_b) == []
    assert _names(registry, "pois", scope(TOWN_B), bbox=inner_b) == ["b-1", "b-2", "road"]


def test_district_line_is_clipped_to_the_town(registry):
    fc = registry.feature_collection("pois", scope(TOWN_A))
    road = next(f for f in fc["features"] if f["properties"]["name"] == "road")
    assert road["properties"]["code"] == DISTRICT
    assert road["geometry"] == {
        "type": "LineString",
        "coordinates": [[120.1, 32.25], [120.5, 32.25]],
    }
    whole = next(
        f for f in registry.feature_collection("pois", scope(DISTRICT))["features"] if f["id"] == 4
    )
    assert whole["geometry"]["coordinates"] == [[120.1, 32.25], [120.9, 32.25]]


def test_sibling_layers_are_not_found(registry):
    for name in ("b-private", "b-shared"):
        with pytest.raises(LayerError) as info:
            registry.get_layer(name, scope(TOWN_A))
        assert info.value.code == "not_found"
        assert info.value.message == f"no layer named {name!r}"  # same as a missing layer
        for call in (registry.read_features, registry.feature_collection):
            with pytest.raises(LayerError) as info:
                call(name, scope(TOWN_A))
            assert info.value.code == "not_found"
        with pytest.raises(LayerError) as info:
            registry.export(name, scope(TOWN_A), "geojson")
        assert info.value.code == "not_found"
    with pytest.raises(LayerError) as info:
        registry.get_layer("no-such-layer", scope(TOWN_A))
    assert info.value.message == "no layer named 'no-such-layer'"


def test_private_layer_seen_by_owner_and_ancestors_only(registry):
    listed = {
        s: [i.name for i in registry.list_layers(scope(s))] for s in (DISTRICT, TOWN_A, TOWN_B)
    }
    assert listed[DISTRICT] == ["b-private", "b-shared", "pois", "towns"]
    assert listed[TOWN_B] == ["b-private", "b-shared", "pois", "towns"]
    assert listed[TOWN_A] == ["pois", "towns"]
    assert [i.name for i in registry.list_layers(EVERYTHING)] == [
        "b-private",
        "b-shared",
        "pois",
        "towns",
    ]
    assert len(registry.read_features("b-private", scope(DISTRICT))) == 1
    # a village of the owner's own town would see only shared layers of its town
    registry.save_layer(
        "a-private",
        gpd.GeoDataFrame(geometry=[shapely.Point(120.1, 32.1)], crs=4326),
        kind="zone",
        owner_code=TOWN_A,
        visibility="private",
    )
    assert "a-private" not in [i.name for i in registry.list_layers(scope(VILLAGE_A1))]
    assert "a-private" in [i.name for i in registry.list_layers(scope(TOWN_A))]


def test_export_is_scoped(registry, tmp_path):
    data = registry.export("pois", scope(TOWN_A), "geojson")
    doc = json.loads(data)
    assert sorted(f["properties"]["name"] for f in doc["features"]) == [
        "a-north",
        "a-south",
        "road",
    ]
    path = tmp_path / "pois.gpkg"
    path.write_bytes(registry.export("pois", scope(TOWN_B), "gpkg"))
    back = gpd.read_file(path, engine="pyogrio")
    assert sorted(back["name"]) == ["b-1", "b-2", "road"]
    assert back.geometry.iloc[back["name"].tolist().index("road")].bounds[0] == pytest.approx(120.5)


def test_bad_bbox(registry):
    for bbox in [(1, 2, 3), (121, 32, 120, 33), (0, 0, float("nan"), 1)]:
        with pytest.raises(LayerError) as info:
            registry.read_features("pois", EVERYTHING, bbox=bbox)
        assert info.value.code == "invalid_argument"


# --- bbox against brute force ----------------------------------------------------------


def _random_layer(n: int, seed: int) -> tuple[gpd.GeoDataFrame, list[str]]:
    rng = np.random.default_rng(seed)
    x = 120 + rng.random(n)
    y = 32 + rng.random(n)
    kind = rng.integers(0, 3, n)
    size = rng.random(n) * 0.2
    geoms = np.where(
        kind == 0,
        shapely.points(x, y),
        np.where(
            kind == 1,
            shapely.linestrings(
                np.stack(
                    [np.column_stack([x, y]), np.column_stack([x + size, y + size * 0.5])], axis=1
                )
            ),
            shapely.box(x, y, np.minimum(x + size, 121), np.minimum(y + size, 33)),
        ),
    )
    codes = assign_codes(gpd.GeoSeries(geoms))
    return gpd.GeoDataFrame({"i": np.arange(n)}, geometry=geoms, crs=4326), codes


def _expected(gdf, codes, s: Scope, box) -> list[int]:
    out = []
    target = shapely.box(*box)
    for i, (geom, code) in enumerate(zip(gdf.geometry.values, codes)):
        if s.is_everything or code.startswith(s.code):
            seen = geom
        elif s.code.startswith(code) and s.geometry is not None:
            seen = geom.intersection(s.geometry)
            dim = shapely.get_dimensions(geom)
            parts = [
                p
                for p in getattr(seen, "geoms", [seen])
                if shapely.get_dimensions(p) == dim and not p.is_empty
            ]
            if not parts:
                continue
            seen = shapely.union_all(parts)
        else:
            continue
        if seen.intersects(target):
            out.append(i)
    return out


def test_bbox_matches_brute_force(db_url):
    reg = make_registry(db_url)
    gdf, codes = _random_layer(1500, seed=3)
    reg.save_layer("rand", gdf, kind="custom", owner_code=DISTRICT, codes=codes)
    rng = np.random.default_rng(4)
    scopes = [EVERYTHING, scope(DISTRICT), scope(TOWN_A), scope(TOWN_B), scope(VILLAGE_A2)]
    checked = 0
    for _ in range(25):
        x0, y0 = 119.9 + rng.random() * 1.1, 31.9 + rng.random() * 1.1
        box = (x0, y0, x0 + rng.random() * 0.4, y0 + rng.random() * 0.4)
        for s in scopes:
            got = reg.read_features("rand", s, bbox=box)["i"].tolist()
            assert got == _expected(gdf, codes, s, box)
            checked += len(got)
    assert checked > 1000  # the boxes really hit features
    assert reg.read_features("rand", EVERYTHING)["i"].tolist() == list(range(1500))


# --- scale -----------------------------------------------------------------------------


def test_twelve_thousand_features_save_replace_and_read_back(db_url):
    """Bulk writes at a realistic size (timings live in bench/, not in asserts)."""
    reg = make_registry(db_url)
    gdf = _big_layer(12_000)
    reg.save_layer("big", gdf, kind="camera", owner_code=DISTRICT)
    assert reg.get_layer("big", EVERYTHING).feature_count == 12_000
    reg.save_layer("big", gdf, kind="camera", owner_code=DISTRICT)  # replace
    assert len(reg.read_features("big", EVERYTHING)) == 12_000


# --- the real boundary file ------------------------------------------------------------


def test_import_real_nantong_file(db_url):
    reg = make_registry(db_url)
    info = reg.import_file(
        NANTONG,
        "nantong",
        owner_code="320612",
        declared_crs="gcj02",
        limits=LIMITS,
        kind="zone",
        title="南通区县",
    )
    assert info.feature_count == 7 and info.geometry_type == "MultiPolygon"
    assert info.meta["source_crs"] == "gcj02" and info.title == "南通区县"
    fc = reg.feature_collection("nantong", EVERYTHING)
    names = {f["properties"]["adcode"]: f["properties"]["name"] for f in fc["features"]}
    assert names[320612] == "通州区"
    tongzhou = reg.read_features("nantong", EVERYTHING, bbox=(120.9, 32.0, 121.1, 32.2))
    assert 320612 in tongzhou["adcode"].tolist()
