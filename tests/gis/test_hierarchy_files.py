"""A county's own hierarchy files (GCJ-02 GeoJSON towns, GeoPackage villages, GBK Shapefile grids
in EPSG:4490, built from the real Tongzhou boundary) read and checked before anything is stored."""

from __future__ import annotations

import zipfile

import numpy as np
import pytest
import shapely

from tests.hierarchy_files_support import DEDICATED, hierarchy_tables, write_hierarchy
from zhizhi.gis.hierarchy_fields import FieldMappingError, detect_fields, parse_field
from zhizhi.gis.hierarchy_files import _shapefile_encoding, read_level
from zhizhi.gis.hierarchy_import import check_files
from zhizhi.gis.metric import MetricFrame


@pytest.fixture(scope="module")
def tables(tongzhou):
    return hierarchy_tables(tongzhou)


def _check(files, **options):
    return check_files(files, crs=options.pop("crs", "gcj02"), district="320612", **options)


def _errors(report, reason: str) -> list[list[str]]:
    return [issue.codes for issue in report.errors if reason in issue.reason]


def test_the_real_shaped_hierarchy_is_valid(tables, tongzhou, tmp_path):
    files = write_hierarchy(tables, tmp_path)
    report = _check(files)
    assert (report.towns, report.villages, report.grids) == (
        len(tongzhou.towns), len(tongzhou.villages), len(tongzhou.grids) + DEDICATED)
    assert report.errors == [] and report.warnings == []
    assert report.overlap_m2 < 1.0 and report.gap_m2 < 1.0  # dedicated grids' overlaps do not count
    # Each level came back where the generator put it: GCJ-02 towns converted, EPSG:4490 grids as they are.
    frame = MetricFrame.for_geometry(tongzhou.boundary.geometry)
    for level, original in (("towns", tongzhou.towns), ("grids", tongzhou.grids)):
        read = read_level(files[level], level, crs="gcj02")
        moved = shapely.hausdorff_distance(
            frame.geometry_to_metric(read.geometry.values[: len(original)]),
            frame.geometry_to_metric(original.geometry.values),
        )
        assert float(np.max(moved)) < 0.5, level
        assert list(read["code"][: len(original)]) == list(original["code"])
    grids = read_level(files["grids"], "grids")
    assert list(grids["name"][:3]) == list(tongzhou.grids["name"][:3])  # GBK names decoded
    assert grids.attrs["fields"] == {"code": "网格编码", "name": "网格名称", "parent": "所属村居", "kind": "网格类型"}


def test_gbk_shapefile_without_cpg_is_detected_and_encoding_overrides(tables, tmp_path):
    files = write_hierarchy(tables, tmp_path)
    with zipfile.ZipFile(files["grids"]) as archive:
        assert not [n for n in archive.namelist() if n.endswith(".cpg")]
        archive.extractall(tmp_path / "x")
    assert _shapefile_encoding(tmp_path / "x" / "网格.shp") == "GB18030"
    # Read as Latin-1 the Chinese field names are gibberish: nothing to detect, the report says so.
    report = _check(files, encoding="latin1")
    assert report.errors and report.errors[0].level == "grids"
    assert "no column for the code" in report.errors[0].reason


def test_a_projected_crs_is_converted(tables, tmp_path):
    files = write_hierarchy(tables, tmp_path)
    import pyogrio

    pyogrio.write_dataframe(tables.villages.to_crs(4549), files["villages"], driver="GPKG")  # CGCS2000 GK 120°E
    assert _check(files).errors == []


def _grids_variant(tables, tmp_path, change):
    grids = tables.grids.copy()
    changed = change(grids)  # in place, or a new frame
    grids = grids if changed is None else changed
    variant = type(tables)(tables.towns, tables.villages, grids)
    return write_hierarchy(variant, tmp_path)


def _buffer_first(grids):
    frame = MetricFrame.for_geometry(grids.geometry.values[0])
    grids.loc[0, "geometry"] = frame.buffer_m(grids.geometry.values[0], 150.0)


def _other_village(grids):
    far = grids["所属村居"].iloc[-1 - DEDICATED]
    grids.loc[0, "所属村居"] = far


def _missing_parent(grids):
    grids.loc[[0, 1], "所属村居"] = "320612999999"


def _duplicate(grids):
    grids.loc[1, "网格编码"] = grids.loc[0, "网格编码"]


def _bow_tie(grids):
    minx, miny, maxx, maxy = grids.geometry.values[0].bounds
    grids.loc[0, "geometry"] = shapely.Polygon([(minx, miny), (maxx, maxy), (maxx, miny), (minx, maxy)])


@pytest.mark.parametrize(
    ("change", "reason", "codes"),
    [
        (_buffer_first, "comprehensive grids overlap", lambda g: {g[0]}),
        (_other_village, "lies outside its parent", lambda g: {g[0]}),
        (_missing_parent, "parent 320612999999 is not among the villages", lambda g: {g[0], g[1]}),
        (_duplicate, "duplicate code", lambda g: {g[0]}),
        (_bow_tie, "Self-intersection", lambda g: {g[0]}),
    ],
    ids=["overlap", "outside", "missing-parent", "duplicate", "invalid"],
)
def test_broken_variants_are_refused_naming_the_codes(tables, tmp_path, change, reason, codes):
    report = _check(_grids_variant(tables, tmp_path, change))
    assert not report.valid
    named = _errors(report, reason)
    assert named, report.errors
    grid_codes = list(tables.grids["网格编码"])
    assert codes(grid_codes) <= {c for issue in named for c in issue}
    assert all(issue.level in ("grids", "hierarchy") for issue in report.errors)


def test_a_gap_is_a_warning_with_area_and_place(tables, tmp_path):
    files = _grids_variant(tables, tmp_path, lambda g: g.drop(index=3))
    report = _check(files)
    assert report.valid, report.errors
    (gap,) = report.warnings
    removed = tables.grids.iloc[3]
    assert gap.level == "villages" and gap.codes == [removed["所属村居"]]
    area = MetricFrame.for_geometry(removed.geometry).area_m2(removed.geometry)
    assert abs(gap.area_m2 / float(area) - 1) < 1e-4 and abs(report.gap_m2 / float(area) - 1) < 1e-4
    assert removed.geometry.contains(shapely.Point(gap.point))


def test_field_detection_and_explicit_fields(tables, tmp_path):
    assert detect_fields("towns", ["DM", "MC", "SS"]) == {"code": "DM", "name": "MC", "parent": "SS"}
    assert detect_fields("grids", ["GRID_CODE", "Grid_Name", "PARENT_CODE", "Type"]) == {
        "code": "GRID_CODE", "name": "Grid_Name", "parent": "PARENT_CODE", "kind": "Type"}
    with pytest.raises(FieldMappingError, match=r"grids: no column for the name found \(columns: 编码, 备注\)"):
        detect_fields("grids", ["编码", "备注"])
    with pytest.raises(FieldMappingError, match="several columns could hold the code: 网格编码, 村编码"):
        detect_fields("grids", ["网格编码", "村编码", "名称"])
    assert parse_field("micro-grids.kind=LX") == ("micro_grids", "kind", "LX")
    with pytest.raises(FieldMappingError):
        parse_field("grids.colour=X")

    # Grid codes of any form, with the parent and name in columns nobody would guess.
    def local_codes(grids):
        grids["网格编码"] = [f"G{i:05d}" for i in range(len(grids))]
        return grids.rename(columns={"所属村居": "归属", "网格名称": "备注"})

    files = _grids_variant(tables, tmp_path, local_codes)
    refused = _check(files)
    assert [e.level for e in refused.errors] == ["grids"] and "no column for the name" in refused.errors[0].reason
    fields = {"grids": {"name": "备注", "parent": "归属"}}
    assert _check(files, fields=fields).errors == []


def test_a_file_without_crs_is_refused_naming_it(tables, tmp_path):
    files = write_hierarchy(tables, tmp_path, grids_prj=False)
    report = check_files(files, crs=None)
    assert {e.level for e in report.errors} == {"towns", "grids"}
    assert all("carries no CRS" in e.reason for e in report.errors)
    assert any(str(files["grids"]) in e.reason for e in report.errors)
    assert any(str(files["towns"]) in e.reason for e in report.errors)


def _micro_grids(tables, n: int = 20):
    """Each of the first ``n`` comprehensive grids cut into a western and an eastern micro-grid."""
    import geopandas as gpd

    rows = []
    for grid in tables.grids.iloc[:n].itertuples():
        minx, miny, maxx, maxy = grid.geometry.bounds
        mid = (minx + maxx) / 2
        for k, box in enumerate((shapely.box(minx, miny, mid, maxy), shapely.box(mid, miny, maxx, maxy))):
            rows.append({"微网格编码": f"{grid.网格编码}{k + 1:02d}", "微网格名称": f"{grid.网格名称}微网格{k + 1}",
                         "所属网格": grid.网格编码, "geometry": shapely.intersection(grid.geometry, box)})
    return gpd.GeoDataFrame(rows, geometry="geometry", crs=4326)


def test_micro_grids_nest_in_their_grids(tables, tmp_path):
    import pyogrio

    files = write_hierarchy(tables, tmp_path)
    micro = _micro_grids(tables)
    files["micro_grids"] = tmp_path / "micro.gpkg"
    pyogrio.write_dataframe(micro, files["micro_grids"], driver="GPKG")
    report = _check(files)
    assert report.errors == [] and report.micro_grids == 40
    micro.loc[0, "所属网格"] = micro.loc[2, "所属网格"]  # the first grid's western half, said to be in the second
    pyogrio.write_dataframe(micro, files["micro_grids"], driver="GPKG")
    report = _check(files)
    assert _errors(report, "lies outside its parent") == [[micro.loc[0, "微网格编码"]]]
    assert report.errors[0].level == "micro_grids" and report.errors[0].area_m2 > 1000


def test_an_unknown_grid_kind_is_refused(tables, tmp_path):
    def odd_kind(grids):
        grids.loc[[4, 5], "网格类型"] = "其他"

    report = _check(_grids_variant(tables, tmp_path, odd_kind))
    codes = list(tables.grids["网格编码"][[4, 5]])
    assert _errors(report, "unknown grid kind '其他'") == [codes]


def test_overlapping_villages_are_refused(tables, tmp_path):
    villages = tables.villages.copy()
    frame = MetricFrame.for_geometry(villages.geometry.values[0])
    villages.loc[0, "geometry"] = frame.buffer_m(villages.geometry.values[0], 150.0)
    report = _check(write_hierarchy(type(tables)(tables.towns, villages, tables.grids), tmp_path))
    first = villages.loc[0, "村居代码"]
    overlaps = _errors(report, "villages overlap")
    assert overlaps and all(first in codes for codes in overlaps)
    assert report.overlap_m2 < 1.0  # the grids themselves still tile
