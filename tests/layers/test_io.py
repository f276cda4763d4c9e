"""Reading layer files: every refusal with its precise code and detail, and the good paths."""

from __future__ import annotations

import io
import json
import stat
import tempfile
import zipfile
from pathlib import Path

import geopandas as gpd
import numpy as np
import pyproj
import pytest
import shapely

from tests.layers_fixtures import (
    LIMITS,
    NANTONG,
    collection,
    feature,
    point,
    polygon,
    square,
    write_json,
    write_shapefile_zip,
    write_zip,
)
from zhizhi.gis.crs import bd09_to_wgs84, gcj02_to_wgs84, wgs84_to_gcj02
from zhizhi.layers import ImportLimits, LayerError, export_layer, read_layer_file

BOWTIE = polygon([[120.0, 32.0], [120.1, 32.1], [120.1, 32.0], [120.0, 32.1], [120.0, 32.0]])


def read(path: Path, **kwargs):
    return read_layer_file(path, limits=kwargs.pop("limits", LIMITS), **kwargs)


def refused(path: Path, **kwargs) -> LayerError:
    with pytest.raises(LayerError) as info:
        read(path, **kwargs)
    return info.value


@pytest.fixture
def private_tmp(tmp_path, monkeypatch) -> Path:
    """Make tempfile use a folder of the test's own, to see what extraction leaves behind."""
    folder = tmp_path / "systemp"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    return folder


# --- geometry validity -----------------------------------------------------------------


def test_bowtie_rejected_with_index_and_reason(tmp_path):
    path = write_json(
        tmp_path / "bow.geojson",
        collection(
            [
                feature(square(120.3, 32.3), n=0),
                feature(BOWTIE, n=1),
                feature(square(120.4, 32.4), n=2),
            ]
        ),
    )
    err = refused(path)
    assert err.code == "invalid_geometry"
    assert err.details == [{"index": 1, "reason": "Self-intersection[120.05 32.05]"}]
    assert "make_valid" in err.message


def test_bowtie_repaired_to_multipolygon(tmp_path):
    path = write_json(
        tmp_path / "bow.geojson", collection([feature(square(120.3, 32.3)), feature(BOWTIE)])
    )
    result = read(path, make_valid=True)
    assert result.repaired == 1
    fixed = result.gdf.geometry.iloc[1]
    assert fixed.geom_type == "MultiPolygon" and fixed.is_valid
    assert len(fixed.geoms) == 2
    assert fixed.area == pytest.approx(0.005)
    assert result.gdf.geometry.iloc[0].geom_type == "Polygon"


def test_spike_repair_keeps_polygon_family(tmp_path):
    spike = polygon(
        [
            [120, 32],
            [120.2, 32],
            [120.2, 32.2],
            [120.2, 32.3],
            [120.2, 32.2],
            [120, 32.2],
            [120, 32],
        ]
    )
    result = read(write_json(tmp_path / "s.geojson", collection([feature(spike)])), make_valid=True)
    assert result.repaired == 1
    assert result.gdf.geometry.iloc[0].geom_type == "Polygon"
    assert result.gdf.geometry.iloc[0].area == pytest.approx(0.04)


def test_unrepairable_collapsed_polygon_is_reported(tmp_path):
    flat = polygon([[120, 32], [120.25, 32.25], [120.5, 32.5], [120, 32]])
    err = refused(
        write_json(tmp_path / "f.geojson", collection([feature(square(120, 32)), feature(flat)])),
        make_valid=True,
    )
    assert err.code == "invalid_geometry"
    assert [d["index"] for d in err.details] == [1]
    assert err.details[0]["reason"].startswith(
        "cannot be repaired without changing its geometry type"
    )


def test_null_geometry_reported(tmp_path):
    err = refused(
        write_json(tmp_path / "n.geojson", collection([feature(point(120, 32)), feature(None)]))
    )
    assert err.code == "invalid_geometry"
    assert err.details == [{"index": 1, "reason": "null geometry"}]


# --- GeoJSON structure that libraries would "fix" ---------------------------------------


def test_unclosed_ring(tmp_path):
    ring = [[120, 32], [120.1, 32], [120.1, 32.1], [120, 32.1]]
    path = write_json(
        tmp_path / "u.geojson", collection([feature(square(120, 32)), feature(polygon(ring))])
    )
    err = refused(path, make_valid=True)
    assert err.code == "malformed"
    assert err.details == [
        {
            "index": 1,
            "reason": "Polygon ring 0 is not closed: first position [120, 32] != last position [120, 32.1]",
        }
    ]


def test_short_ring_and_bad_coordinates_each_reported(tmp_path):
    text = json.dumps(
        collection(
            [
                feature(polygon([[120, 32], [120.1, 32], [120, 32]])),
                feature(point(120, "32.0")),
                feature({"type": "LineString", "coordinates": [[120, 32], [120.1, float("nan")]]}),
                feature(
                    {
                        "type": "MultiPolygon",
                        "coordinates": [
                            [[[120, 32], [121, 32], [121, 33], [120, 32]]],
                            [[[120, 32]]],
                        ],
                    }
                ),
                feature(point(120.5, 32.5)),
            ]
        )
    )
    path = tmp_path / "b.geojson"
    path.write_text(text)
    err = refused(path)
    assert err.code == "malformed"
    assert err.details == [
        {"index": 0, "reason": "Polygon ring 0 has 3 position(s); at least 4 needed"},
        {"index": 1, "reason": 'Point: coordinate 1 is not a number: "32.0"'},
        {"index": 2, "reason": "LineString position 1 has a non-finite coordinate [120.1, nan]"},
        {
            "index": 3,
            "reason": "MultiPolygon polygon 1 ring 0 has 1 position(s); at least 4 needed",
        },
    ]
    assert "4 structural problem(s)" in err.message


def test_malformed_json_gives_line_and_column(tmp_path):
    path = tmp_path / "m.geojson"
    path.write_text('{\n  "type": "FeatureCollection",\n  "features": [,]\n}')
    err = refused(path)
    assert err.code == "malformed"
    assert "line 3, column 16" in err.message


def test_not_geojson_object(tmp_path):
    err = refused(write_json(tmp_path / "t.json", {"type": "Topology", "objects": {}}))
    assert err.code == "malformed" and "Topology" in err.message


# --- empty, size and count -------------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        (b"", "0 bytes"),
        (b"  \n\t  \r\n", "whitespace"),
        (b'{"type": "FeatureCollection", "features": []}', "no features"),
    ],
    ids=["zero-bytes", "whitespace", "empty-collection"],
)
def test_empty_inputs(tmp_path, content, fragment):
    path = tmp_path / "e.geojson"
    path.write_bytes(content)
    err = refused(path)
    assert err.code == "empty"
    assert fragment in err.message


def test_oversized_file_refused_before_parsing(tmp_path):
    path = tmp_path / "big.geojson"
    path.write_text("{ this is not even JSON " + "x" * 500)
    err = refused(path, limits=ImportLimits(max_bytes=100, max_features=10, max_archive_bytes=1000))
    assert err.code == "too_large"
    assert "over the limit of 100 bytes" in err.message


def test_console_layer_limits_are_accepted(tmp_path):
    from zhizhi.console.settings import LayerLimits

    path = write_json(tmp_path / "a.geojson", collection([feature(point(120, 32))] * 3))
    with pytest.raises(LayerError) as info:
        read_layer_file(path, limits=LayerLimits(max_upload_bytes=10_000, max_features=2))
    assert info.value.code == "too_many_features"
    assert ImportLimits.coerce(LayerLimits(max_upload_bytes=123)).max_bytes == 123


def test_too_many_features_geojson(tmp_path):
    path = write_json(
        tmp_path / "a.geojson", collection([feature(point(120 + i / 100, 32)) for i in range(3)])
    )
    err = refused(
        path, limits=ImportLimits(max_bytes=10_000, max_features=2, max_archive_bytes=10_000)
    )
    assert err.code == "too_many_features"
    assert "3 features" in err.message


def test_too_many_features_gpkg_and_zip(tmp_path):
    gdf = gpd.GeoDataFrame(
        {"n": [1, 2, 3]}, geometry=shapely.points([120, 120.1, 120.2], [32, 32, 32]), crs=4326
    )
    gpkg = tmp_path / "p.gpkg"
    gdf.to_file(gpkg, driver="GPKG", engine="pyogrio")
    shpzip = write_shapefile_zip(gdf, tmp_path / "shp", "pts")
    limits = ImportLimits(max_bytes=10_000_000, max_features=2, max_archive_bytes=10_000_000)
    for path in (gpkg, shpzip):
        assert refused(path, limits=limits).code == "too_many_features"


# --- zip archives ----------------------------------------------------------------------


def _evil_zip(path: Path, entry: str) -> Path:
    return write_zip(path, {"ok.shp": b"x" * 100, "ok.dbf": b"y", entry: b"owned"})


@pytest.mark.parametrize(
    ("entry", "reason"),
    [
        ("../evil.shp", "has a '..' component"),
        ("sub/../../evil.shp", "has a '..' component"),
        ("C:/evil.shp", "has a drive letter"),
        ("ABSOLUTE", "has an absolute path"),
    ],
)
def test_unsafe_zip_entries_refused_before_extracting(tmp_path, private_tmp, entry, reason):
    target = tmp_path / "outside" / "evil.shp"
    entry = str(target) if entry == "ABSOLUTE" else entry
    (tmp_path / "up").mkdir()
    path = _evil_zip(tmp_path / "up" / "evil.zip", entry)
    err = refused(path)
    assert err.code == "unsafe_archive"
    assert reason in err.message and entry in err.message
    assert not target.exists()
    assert not (tmp_path / "evil.shp").exists() and not (tmp_path.parent / "evil.shp").exists()
    assert sorted(p.name for p in (tmp_path / "up").iterdir()) == ["evil.zip"]
    assert list(private_tmp.iterdir()) == []


def test_symlink_entry_refused(tmp_path, private_tmp):
    path = tmp_path / "link.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("a.shp", b"x")
        link = zipfile.ZipInfo("a.dbf")
        link.external_attr = (stat.S_IFLNK | 0o777) << 16
        archive.writestr(link, "/etc/passwd")
    err = refused(path)
    assert err.code == "unsafe_archive" and "symbolic link" in err.message
    assert list(private_tmp.iterdir()) == []


def test_zip_without_shp(tmp_path):
    err = refused(write_zip(tmp_path / "a.zip", {"readme.txt": b"hi", "data.csv": b"a,b"}))
    assert err.code == "unsupported_format"
    assert "no .shp file" in err.message and "readme.txt" in err.message


def test_zip_with_two_shapefiles(tmp_path):
    err = refused(write_zip(tmp_path / "a.zip", {"a.shp": b"x", "b/b.shp": b"y"}))
    assert err.code == "unsupported_format" and "2 .shp files" in err.message


def test_zip_bomb_refused_by_total_uncompressed_size(tmp_path, private_tmp):
    path = write_zip(tmp_path / "bomb.zip", {"a.shp": b"\0" * 3_000_000, "a.dbf": b"\0" * 10})
    assert path.stat().st_size < 100_000
    limits = ImportLimits(max_bytes=1_000_000, max_features=10, max_archive_bytes=1_000_000)
    err = refused(path, limits=limits)
    assert err.code == "too_large" and "unpacks to 3,000,010 bytes" in err.message
    assert list(private_tmp.iterdir()) == []


def test_not_a_zip(tmp_path):
    path = tmp_path / "x.zip"
    path.write_bytes(b"PK but not really a zip archive")
    assert refused(path).code == "malformed"


def test_extraction_folder_is_removed_after_reading(tmp_path, private_tmp):
    gdf = gpd.GeoDataFrame({"n": [1]}, geometry=[shapely.Point(120, 32)], crs=4326)
    result = read(write_shapefile_zip(gdf, tmp_path / "shp", "one"))
    assert result.feature_count == 1
    assert list(private_tmp.iterdir()) == []


# --- coordinate systems ----------------------------------------------------------------


def test_projected_metres_passed_as_degrees_geojson(tmp_path):
    fc = collection([feature(square(300_000, 3_540_000, 1000)), feature(point(310_000, 3_550_000))])
    err = refused(write_json(tmp_path / "utm.geojson", fc))
    assert err.code == "projected_as_degrees"
    assert "look like metres of a projected system" in err.message
    assert "x 300000..310000, y 3540000..3550000" in err.message
    assert [d["index"] for d in err.details] == [0, 1]
    assert "position 0 [300000.0, 3540000.0] is outside lon [-180, 180]" in err.details[0]["reason"]


def test_projected_gpkg_declared_as_degrees(tmp_path):
    utm = pyproj.Transformer.from_crs(4326, 32651, always_xy=True)
    x, y = utm.transform([120.5, 120.6], [32.0, 32.1])
    gdf = gpd.GeoDataFrame({"n": [1, 2]}, geometry=shapely.points(x, y), crs=32651)
    path = tmp_path / "utm.gpkg"
    gdf.to_file(path, driver="GPKG", engine="pyogrio")
    assert read(path).source_crs == "EPSG:32651"  # the file's own CRS: converted fine
    err = refused(path, declared_crs="wgs84")
    assert err.code == "projected_as_degrees"
    assert "the file says degrees (wgs84)" in err.message
    assert [d["index"] for d in err.details] == [0, 1]


def test_projected_conversion_out_of_range_is_bad_crs(tmp_path):
    fc = collection([feature(point(500_000, 3_540_000)), feature(point(1e12, 1e12))])
    err = refused(write_json(tmp_path / "far.geojson", fc), declared_crs="EPSG:32651")
    assert err.code == "bad_crs"
    assert "converting from EPSG:32651 gave coordinates outside lon/lat range" in err.message
    assert [d["index"] for d in err.details] == [1]


@pytest.mark.parametrize("declared", ["mars2000", "EPSG:999999", "+proj=nonsense"])
def test_unknown_declared_crs(tmp_path, declared):
    err = refused(
        write_json(tmp_path / "a.geojson", collection([feature(point(120, 32))])),
        declared_crs=declared,
    )
    assert err.code == "bad_crs" and repr(declared) in err.message


def test_unknown_crs_in_file(tmp_path):
    fc = collection(
        [feature(point(120, 32))], crs={"type": "name", "properties": {"name": "martian"}}
    )
    err = refused(write_json(tmp_path / "a.geojson", fc))
    assert err.code == "bad_crs" and "'martian'" in err.message


def test_conflicting_crs_flags_in_file(tmp_path):
    fc = collection(
        [feature(point(120, 32))],
        coordinate_system="bd09",
        crs={"type": "name", "properties": {"name": "gcj02"}},
    )
    err = refused(write_json(tmp_path / "a.geojson", fc))
    assert err.code == "bad_crs" and "two coordinate systems" in err.message


def test_shapefile_without_prj(tmp_path):
    gdf = gpd.GeoDataFrame({"n": [1]}, geometry=[shapely.Point(120.5, 32.5)], crs=4326)
    path = write_shapefile_zip(gdf, tmp_path / "shp", "noprj", prj=False)
    err = refused(path)
    assert err.code == "bad_crs"
    assert "no .prj" in err.message and "declare" in err.message
    result = read(path, declared_crs="gcj02")
    assert result.source_crs == "gcj02"
    lon, lat = gcj02_to_wgs84(120.5, 32.5)
    assert result.gdf.geometry.iloc[0].x == pytest.approx(float(lon), abs=1e-9)
    assert result.gdf.geometry.iloc[0].y == pytest.approx(float(lat), abs=1e-9)


def test_geojson_wgs84_unchanged(tmp_path):
    fc = collection(
        [feature(square(120.3, 32.3), name="甲", n=1), feature(point(120.5, 32.5), name="乙", n=2)]
    )
    result = read(write_json(tmp_path / "w.geojson", fc))
    assert result.source_crs == "wgs84" and result.feature_count == 2 and result.repaired == 0
    assert result.gdf.crs.to_epsg() == 4326
    assert result.gdf["name"].tolist() == ["甲", "乙"]
    expected = shapely.from_geojson([json.dumps(f["geometry"]) for f in fc["features"]])
    assert shapely.equals_exact(result.gdf.geometry.values, expected, tolerance=0).all()


def _coords_of(fc: dict) -> np.ndarray:
    return shapely.get_coordinates(
        shapely.from_geojson([json.dumps(f["geometry"]) for f in fc["features"]])
    )


@pytest.mark.parametrize("how", ["declared", "legacy-crs-member", "foreign-member"])
def test_geojson_gcj02_converted(tmp_path, how):
    fc = collection([feature(square(120.86, 32.01, 0.05)), feature(point(121.2, 32.3))])
    if how == "legacy-crs-member":
        fc["crs"] = {"type": "name", "properties": {"name": "gcj02"}}
    elif how == "foreign-member":
        fc["coordinate_system"] = "gcj02"
    path = write_json(tmp_path / "g.geojson", fc)
    result = read(path, declared_crs="gcj02" if how == "declared" else None)
    assert result.source_crs == "gcj02"
    src = _coords_of(fc)
    lon, lat = gcj02_to_wgs84(src[:, 0], src[:, 1])
    got = shapely.get_coordinates(result.gdf.geometry.values)
    np.testing.assert_allclose(got, np.column_stack([lon, lat]), atol=1e-12, rtol=0)
    assert np.abs(got - src).max() > 1e-3  # really moved (a few hundred metres)


def test_geojson_bd09_declared(tmp_path):
    fc = collection([feature(point(120.9, 32.1))])
    result = read(write_json(tmp_path / "b.geojson", fc), declared_crs="BD-09")
    lon, lat = bd09_to_wgs84(120.9, 32.1)
    assert result.source_crs == "bd09"
    assert (result.gdf.geometry.iloc[0].x, result.gdf.geometry.iloc[0].y) == pytest.approx(
        (float(lon), float(lat)), abs=1e-9
    )


def test_gpkg_web_mercator_converted(tmp_path):
    merc = pyproj.Transformer.from_crs(4326, 3857, always_xy=True)
    lon = np.array([120.1, 120.7, 120.9])
    lat = np.array([32.2, 32.4, 32.9])
    x, y = merc.transform(lon, lat)
    gdf = gpd.GeoDataFrame({"name": ["a", "b", "c"]}, geometry=shapely.points(x, y), crs=3857)
    path = tmp_path / "m.gpkg"
    gdf.to_file(path, layer="pois", driver="GPKG", engine="pyogrio")
    result = read(path)
    assert result.source_crs == "EPSG:3857" and result.source_layer == "pois"
    np.testing.assert_allclose(
        shapely.get_coordinates(result.gdf.geometry.values), np.column_stack([lon, lat]), atol=1e-9
    )


def test_gpkg_first_spatial_layer_is_read(tmp_path):
    path = tmp_path / "two.gpkg"
    a = gpd.GeoDataFrame({"n": [1]}, geometry=[shapely.Point(120, 32)], crs=4326)
    b = gpd.GeoDataFrame({"n": [2, 3]}, geometry=[shapely.Point(121, 33)] * 2, crs=4326)
    a.to_file(path, layer="first", driver="GPKG", engine="pyogrio")
    b.to_file(path, layer="second", driver="GPKG", engine="pyogrio")
    result = read(path)
    assert result.source_layer == "first" and result.feature_count == 1


def test_gpkg_that_is_not_a_geopackage(tmp_path):
    path = write_json(tmp_path / "fake.gpkg", collection([feature(point(120, 32))]))
    assert refused(path).code == "malformed"


def test_unsupported_extension(tmp_path):
    path = tmp_path / "a.kml"
    path.write_text("<kml/>")
    err = refused(path)
    assert err.code == "unsupported_format" and "a.kml" in err.message


def test_original_name_decides_format_of_an_anonymous_upload(tmp_path):
    path = write_json(tmp_path / "upload", collection([feature(point(120, 32))]))
    result = read(path, original_name="村界.geojson")
    assert result.format == "geojson" and result.source_name == "村界.geojson"


@pytest.mark.parametrize("epsg", [4490, 4326])
def test_shapefile_round_trip_through_export(tmp_path, epsg):
    gdf = gpd.GeoDataFrame(
        {"name": ["东湖村", "西湖村"], "pop": [1200, 3400], "tags": [["a", "b"], ["c"]]},
        geometry=[shapely.box(120.1, 32.1, 120.2, 32.2), shapely.box(120.3, 32.3, 120.4, 32.45)],
        crs=epsg,
    )
    path = write_shapefile_zip(gdf, tmp_path / "src", "villages")
    first = read(path)
    assert first.source_crs == f"EPSG:{epsg}"
    data = export_layer(first.gdf, "shp.zip", layer_name="villages")
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        assert {Path(n).suffix for n in archive.namelist()} >= {
            ".shp",
            ".shx",
            ".dbf",
            ".prj",
            ".cpg",
        }
    again = tmp_path / "again.zip"
    again.write_bytes(data)
    second = read(again)
    assert second.source_crs == "EPSG:4326"
    assert second.gdf["name"].tolist() == ["东湖村", "西湖村"]
    assert second.gdf["pop"].tolist() == [1200, 3400]
    assert shapely.equals(second.gdf.geometry.values, gdf.geometry.values).all()


@pytest.mark.parametrize("fmt", ["geojson", "gpkg"])
def test_export_round_trip(tmp_path, fmt):
    gdf = gpd.GeoDataFrame(
        {"name": ["路1", "路2"], "meta": [{"k": 1}, None]},
        geometry=[
            shapely.LineString([(120.1, 32.1), (120.2, 32.25)]),
            shapely.MultiLineString([[(120, 32), (120.5, 32.5)]]),
        ],
        crs=4326,
    )
    path = tmp_path / f"out.{fmt}"
    path.write_bytes(export_layer(gdf, fmt, layer_name="roads"))
    back = read(path)
    assert back.gdf["name"].tolist() == ["路1", "路2"]
    assert shapely.equals(back.gdf.geometry.values, gdf.geometry.values).all()
    if fmt == "geojson":
        doc = json.loads(path.read_text())
        assert "crs" not in doc  # RFC 7946


def test_export_refuses_mixed_geometries_as_shapefile():
    gdf = gpd.GeoDataFrame(
        {"n": [1, 2]}, geometry=[shapely.Point(120, 32), shapely.box(120, 32, 121, 33)], crs=4326
    )
    with pytest.raises(LayerError) as info:
        export_layer(gdf, "shp.zip")
    assert info.value.code == "unsupported_format"
    with pytest.raises(LayerError) as info:
        export_layer(gdf, "kml")
    assert info.value.code == "unsupported_format"


def test_real_nantong_boundaries_gcj02():
    assert NANTONG.is_file(), f"shared test data missing: {NANTONG}"
    result = read_layer_file(NANTONG, declared_crs="gcj02", limits=LIMITS)
    assert result.source_crs == "gcj02" and result.feature_count == 7 and result.repaired == 0
    codes = result.gdf["adcode"].astype(str).tolist()
    assert "320612" in codes
    tongzhou = result.gdf.geometry.iloc[codes.index("320612")]
    raw = raw_geometry(NANTONG, "320612")
    src = shapely.get_coordinates(raw)
    lon, lat = gcj02_to_wgs84(src[:, 0], src[:, 1])
    np.testing.assert_allclose(
        shapely.get_coordinates(tongzhou), np.column_stack([lon, lat]), atol=1e-12, rtol=0
    )
    # GCJ-02 lies north-east of WGS-84 around Nantong by a few hundred metres
    back_lon, back_lat = wgs84_to_gcj02(lon, lat)
    np.testing.assert_allclose(np.column_stack([back_lon, back_lat]), src, atol=1e-8)
    assert 0.001 < float(np.mean(src[:, 0] - lon)) < 0.01


def raw_geometry(path: Path, adcode: str):
    """The feature's geometry straight from the JSON text (no library in between)."""
    doc = json.loads(path.read_text(encoding="utf-8"))
    for f in doc["features"]:
        if str(f["properties"]["adcode"]) == adcode:
            return shapely.from_geojson(json.dumps(f["geometry"]))
    raise AssertionError(f"{adcode} not in {path}")
