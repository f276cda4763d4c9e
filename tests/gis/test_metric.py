"""Metric frames: metres in the frame are metres on the ground (checked against geodesics)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import shapely
from pyproj import Geod

from zhizhi.gis.metric import MetricFrame, geodesic_bearing_deg, geodesic_distance_m

LON, LAT = 120.8640, 32.0110  # Nantong
GEOD = Geod(ellps="WGS84")


@pytest.fixture(scope="module")
def frame() -> MetricFrame:
    return MetricFrame.around(LON, LAT)


def around(lon: float, lat: float, az, dist):
    """Points ``dist`` metres from (lon, lat) on azimuths ``az`` (geodesic, independent of frames)."""
    az, dist = np.broadcast_arrays(np.asarray(az, float), np.asarray(dist, float))
    out_lon, out_lat, _ = GEOD.fwd(np.full(az.shape, lon), np.full(az.shape, lat), az, dist)
    return np.asarray(out_lon), np.asarray(out_lat)


def test_distances_match_geodesic_within_50_km(frame):
    rng = np.random.default_rng(5)
    n = 5000
    a_lon, a_lat = around(LON, LAT, rng.uniform(0, 360, n), 50_000 * np.sqrt(rng.uniform(0, 1, n)))
    b_lon, b_lat = around(LON, LAT, rng.uniform(0, 360, n), 50_000 * np.sqrt(rng.uniform(0, 1, n)))
    planar = frame.distance_m(shapely.points(a_lon, a_lat), shapely.points(b_lon, b_lat))
    geodesic = geodesic_distance_m(a_lon, a_lat, b_lon, b_lat)
    assert geodesic.max() > 80_000
    np.testing.assert_allclose(planar, geodesic, rtol=5e-4)


def test_metres_along_axes(frame):
    x, y = frame.to_metric(LON, LAT)
    assert (float(x), float(y)) == pytest.approx((0.0, 0.0), abs=1e-6)
    e_lon, e_lat = around(LON, LAT, 90.0, 1000.0)
    n_lon, n_lat = around(LON, LAT, 0.0, 1000.0)
    ex, ey = frame.to_metric(e_lon, e_lat)
    nx, ny = frame.to_metric(n_lon, n_lat)
    assert (float(ex), float(ey)) == pytest.approx((1000.0, 0.0), abs=0.01)  # east is +x
    assert (float(nx), float(ny)) == pytest.approx((0.0, 1000.0), abs=0.01)  # north is +y


@pytest.mark.parametrize("centre_offset_m", [0.0, 30_000.0])
def test_area_of_a_1_km_square(frame, centre_offset_m):
    # A 1 km x 1 km square drawn in a frame of its own, measured in the shared frame.
    c_lon, c_lat = around(LON, LAT, 60.0, centre_offset_m)
    own = MetricFrame.around(float(c_lon), float(c_lat))
    square = own.geometry_to_lonlat(shapely.box(-500.0, -500.0, 500.0, 500.0))
    assert float(frame.area_m2(square)) == pytest.approx(1e6, rel=1e-3)
    geodesic_area, _ = GEOD.geometry_area_perimeter(shapely.segmentize(square, 0.001))
    assert float(frame.area_m2(square)) == pytest.approx(abs(geodesic_area), rel=5e-4)
    areas = frame.area_m2(np.array([square, square]))
    assert areas.shape == (2,)


@pytest.mark.parametrize("radius_m", [10.0, 250.0, 5_000.0])
def test_buffer_of_a_point_has_a_radius_in_metres(frame, radius_m):
    point = shapely.Point(LON + 0.05, LAT - 0.03)
    disc = frame.buffer_m(point, radius_m)
    ring = shapely.get_coordinates(disc.exterior)
    to_ring = geodesic_distance_m(point.x, point.y, ring[:, 0], ring[:, 1])
    np.testing.assert_allclose(to_ring, radius_m, rtol=5e-4)
    # A 32-gon (quad_segs=8) has 0.64 % less area than the circle.
    assert float(frame.area_m2(disc)) == pytest.approx(math.pi * radius_m**2, rel=0.01)
    assert disc.contains(point)


def test_round_trip_to_metric_and_back(frame):
    rng = np.random.default_rng(8)
    lon, lat = LON + rng.uniform(-0.6, 0.6, (50, 40)), LAT + rng.uniform(-0.5, 0.5, (50, 40))
    x, y = frame.to_metric(lon, lat)
    assert x.shape == y.shape == (50, 40)
    lon2, lat2 = frame.to_lonlat(x, y)
    np.testing.assert_allclose(lon2, lon, atol=1e-10)
    np.testing.assert_allclose(lat2, lat, atol=1e-10)
    polygon = shapely.Polygon([(LON, LAT), (LON + 0.1, LAT), (LON + 0.1, LAT + 0.1)])
    back = frame.geometry_to_lonlat(frame.geometry_to_metric(polygon))
    np.testing.assert_allclose(
        shapely.get_coordinates(back), shapely.get_coordinates(polygon), atol=1e-10
    )


def test_frame_for_geometry_is_centred_on_its_bounds():
    geometry = shapely.LineString([(120.5, 31.8), (121.2, 32.4)])
    frame = MetricFrame.for_geometry(geometry)
    assert (frame.lon0, frame.lat0) == pytest.approx((120.85, 32.1))
    assert frame == MetricFrame.around(120.85, 32.1)


def test_geodesic_bearings():
    bearings = geodesic_bearing_deg(LON, LAT, *around(LON, LAT, [0.0, 90.0, 180.0, -90.0], 1000.0))
    np.testing.assert_allclose(bearings, [0.0, 90.0, 180.0, 270.0], atol=1e-9)
    assert ((bearings >= 0) & (bearings < 360)).all()
    assert float(geodesic_distance_m(LON, LAT, LON, LAT)) == 0.0
