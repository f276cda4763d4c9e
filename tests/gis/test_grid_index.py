"""Point -> grid lookup: agreement with brute force, edges, outside, the chain contract."""

import numpy as np
import pytest
import shapely

from zhizhi.gis.grid_index import GridIndex
from zhizhi.gis.jurisdiction import OutsideDistrictError


def test_matches_brute_force_on_random_points(jurisdictions):
    index = jurisdictions.grid_index
    rng = np.random.default_rng(42)
    minx, miny, maxx, maxy = shapely.total_bounds(index.polygons)
    x, y = rng.uniform(minx, maxx, 20_000), rng.uniform(miny, maxy, 20_000)
    np.testing.assert_array_equal(index.locate(x, y), index.locate_brute_force(x, y))
    assert 0.02 < index.mixed_fraction < 0.2


def test_points_on_shared_edges_and_vertices(jurisdictions):
    index = jurisdictions.grid_index
    # Every vertex of every grid boundary lies on an edge shared with a neighbour or on the
    # district boundary; the raster shortcut must give what brute force gives, exactly.
    vertices = shapely.get_coordinates(shapely.boundary(index.polygons[:200]))
    got = index.locate(vertices[:, 0], vertices[:, 1])
    np.testing.assert_array_equal(got, index.locate_brute_force(vertices[:, 0], vertices[:, 1]))
    assert (got >= 0).all()  # a vertex is covered by its polygon: never lost
    # Midpoints of edges sit on the boundary up to float rounding: still exactly brute force.
    mids = (vertices[:-1] + vertices[1:]) / 2.0
    np.testing.assert_array_equal(
        index.locate(mids[:, 0], mids[:, 1]), index.locate_brute_force(mids[:, 0], mids[:, 1])
    )


def test_shared_edge_goes_to_lower_code():
    left, right = shapely.box(0, 0, 1, 1), shapely.box(1, 0, 2, 1)
    index = GridIndex([left, right])
    assert index.locate([1.0], [0.5]).tolist() == [0]
    assert GridIndex([right, left]).locate([1.0], [0.5]).tolist() == [0]


def test_outside_points(jurisdictions):
    index = jurisdictions.grid_index
    minx, miny, maxx, maxy = shapely.total_bounds(index.polygons)
    far = index.locate([minx - 1, maxx + 1, 0.0, np.nan], [miny, maxy + 1, 0.0, np.nan])
    assert far.tolist() == [-1, -1, -1, -1]
    with pytest.raises(OutsideDistrictError, match="outside district 320612"):
        jurisdictions.locate(minx - 0.05, miny - 0.05)
    with pytest.raises(ValueError, match="out of range"):
        jurisdictions.locate(200.0, 32.0)


def test_shapes_preserved(jurisdictions):
    index = jurisdictions.grid_index
    lon, lat = jurisdictions.get(jurisdictions.grid_codes[5]).anchor
    assert index.locate(np.full((2, 3), lon), np.full((2, 3), lat)).shape == (2, 3)
    with pytest.raises(ValueError, match="shapes differ"):
        index.locate([1.0, 2.0], [1.0])


def test_locate_chain_and_gcj02(jurisdictions):
    from zhizhi.gis.crs import wgs84_to_gcj02

    code = jurisdictions.grid_codes[100]
    lon, lat = jurisdictions.get(code).anchor
    hit = jurisdictions.locate(lon, lat)
    assert hit.grid == code and hit.village == code[:12] and hit.town == code[:9] and hit.district == code[:6]
    g_lon, g_lat = wgs84_to_gcj02(lon, lat)
    assert jurisdictions.locate(float(g_lon), float(g_lat), crs="gcj02").grid == code
    # The same GCJ-02 numbers read as WGS-84 land hundreds of metres away: usually another grid.
    wrong = jurisdictions.locate_many(np.array([g_lon]), np.array([g_lat]))[0]
    assert wrong is None or isinstance(wrong, str)


def test_lowest_containing_unit(jurisdictions):
    grid = jurisdictions.get(jurisdictions.grid_codes[0])
    village = jurisdictions.get(grid.parent)
    town = jurisdictions.get(village.parent)
    small = shapely.buffer(shapely.point_on_surface(grid.geometry), 1e-5)
    whole_village = shapely.buffer(village.geometry, -1e-5)
    across = shapely.LineString([jurisdictions.get(t.code).anchor for t in jurisdictions.units()[1:3]])
    codes = jurisdictions.lowest_containing([small, whole_village, town.geometry, across])
    assert codes[0] == grid.code
    assert codes[1] == village.code
    assert codes[2] == town.code
    assert len(codes[3]) in (6, 9)
