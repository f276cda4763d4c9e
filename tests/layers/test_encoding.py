"""Chinese Shapefiles: GBK text without a .cpg file is read right, or as the user says."""

from __future__ import annotations

import zipfile
from pathlib import Path

import geopandas as gpd
import pyogrio
import pytest
import shapely

from zhizhi.layers import ImportLimits, LayerError, read_layer_file
from zhizhi.layers.io import dbf_encoding

NAMES = ["金沙街道", "石港镇"]
LIMITS = ImportLimits(max_bytes=10_000_000, max_features=1000, max_archive_bytes=50_000_000)


def _shapefile_zip(tmp_path: Path, encoding: str, keep_cpg: bool) -> Path:
    folder = tmp_path / encoding
    folder.mkdir()
    table = gpd.GeoDataFrame(
        {"name": NAMES}, geometry=[shapely.Point(121.0, 32.0), shapely.Point(121.1, 32.1)], crs=4326
    )
    pyogrio.write_dataframe(table, folder / "towns.shp", encoding=encoding)
    if not keep_cpg:
        (folder / "towns.cpg").unlink()
    target = tmp_path / f"towns-{encoding}-{keep_cpg}.zip"
    with zipfile.ZipFile(target, "w") as archive:
        for part in folder.iterdir():
            archive.write(part, part.name)
    return target


@pytest.mark.parametrize("encoding", ["GBK", "UTF-8"])
@pytest.mark.parametrize("keep_cpg", [True, False], ids=["with-cpg", "without-cpg"])
def test_chinese_names_survive(tmp_path, encoding, keep_cpg):
    result = read_layer_file(_shapefile_zip(tmp_path, encoding, keep_cpg), limits=LIMITS)
    assert result.gdf["name"].tolist() == NAMES


def test_gdal_alone_would_garble_gbk(tmp_path):
    """Why detection exists: without it GDAL reads GBK as Latin-1."""
    archive = _shapefile_zip(tmp_path, "GBK", keep_cpg=False)
    folder = tmp_path / "unzipped"
    zipfile.ZipFile(archive).extractall(folder)
    assert pyogrio.read_dataframe(folder / "towns.shp")["name"].tolist() != NAMES
    assert dbf_encoding(folder / "towns.shp") == "GB18030"


def test_explicit_encoding_wins(tmp_path):
    archive = _shapefile_zip(tmp_path, "GBK", keep_cpg=False)
    assert read_layer_file(archive, limits=LIMITS, encoding="GBK").gdf["name"].tolist() == NAMES


@pytest.mark.parametrize("encoding", ["UTF-8", "no-such-codec"])
def test_wrong_encoding_is_a_clear_error(tmp_path, encoding):
    archive = _shapefile_zip(tmp_path, "GBK", keep_cpg=False)
    with pytest.raises(LayerError) as info:
        read_layer_file(archive, limits=LIMITS, encoding=encoding)
    assert info.value.code == "malformed"
    assert "encoding" in info.value.message and encoding in info.value.message
