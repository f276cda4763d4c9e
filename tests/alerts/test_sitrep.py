"""Situation reports: the standalone HTML map (nothing fetched from outside, checked by parsing
and in a real headless Chromium that refuses every non-file request), the JSON and CSV summaries.
"""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path

import pytest

from zhizhi.alerts.incidents.record import Incident, TimelineEntry
from zhizhi.alerts.incidents.sitrep import CSV_COLUMNS, external_refs, summary_csv, summary_json
from zhizhi.alerts.incidents.sitrep import render_html as render_with

T0 = 1_750_000_000.0
LON, LAT = 120.95, 32.05


def _square(lon: float, lat: float, d: float) -> dict:
    return {"type": "Polygon", "coordinates": [[[lon - d, lat - d], [lon + d, lat - d], [lon + d, lat + d],
                                                [lon - d, lat + d], [lon - d, lat - d]]]}


def _obj(layer: str, i: int, dx: float, inside: bool, **props) -> dict:
    return {"layer": layer, "id": f"{layer[:3].upper()}-{i}", "name": f"{layer} {i}", "lon": LON + dx,
            "lat": LAT + dx / 2, "distance_m": abs(dx) * 94_000, "inside": inside, "properties": props}


LEAFLET_DIR = Path(__file__).resolve().parents[2] / "console" / "static" / "vendor" / "leaflet"
GRIDS = ["320612001001001", "320612001001002", "320612001002001"]
IMPACT = {
    "area": _square(LON, LAT, 0.01),
    "area_km2": 4.18,
    "towns": [{"code": "320612001", "name": "金沙街道", "level": "town", "population": 5400, "share": 0.2}],
    "villages": [{"code": "320612001001", "name": "三里墩村", "level": "village", "population": 3300, "share": 0.4}],
    "grids": [{"code": g, "name": f"网格{i + 1}", "level": "grid", "population": 1800, "share": 0.5}
              for i, g in enumerate(GRIDS)],
    "population": 5400,
    "cameras": [_obj("cameras", 1, 0.002, True, model="DS-2CD"), _obj("cameras", 2, 0.004, True),
                _obj("cameras", 3, 0.015, False)],
    "shelters": [_obj("shelters", 1, -0.005, True, capacity=800)],
    "facilities": [_obj("facilities", 1, 0.006, True, kind="school"),
                   _obj("facilities", 2, -0.008, True, kind="chemical_plant")],
    "drones": [_obj("drones", 1, -0.002, True)],
    "vehicles": [_obj("vehicles", 1, 0.012, False, plate="苏F-12345")],
}
GRID_LAYER = {"type": "FeatureCollection", "features": [
    {"type": "Feature", "properties": {"code": g, "name": f"网格{i + 1}"},
     "geometry": _square(LON - 0.01 + 0.01 * i, LAT, 0.005)} for i, g in enumerate(GRIDS)
] + [{"type": "Feature", "properties": {"code": "320612002001001", "name": "elsewhere"},
      "geometry": _square(LON + 0.1, LAT, 0.005)}]}


@pytest.fixture(scope="module")
def incident() -> Incident:
    return Incident(
        id="k3v9q2m7xa1b", type="chemical_leak", title="化工园区储罐泄漏 <tank 3> & \"B\"",
        area={"point": [LON, LAT], "wind_from_deg": 90, "wind_speed_ms": 3.0},
        geometry=IMPACT["area"], owner_unit="320612001", codes=["320612001", *GRIDS], impact=IMPACT,
        created_ts=T0, created_by="duty-1", updated_ts=T0,
    )


def render_html(*args, **kwargs) -> str:
    """The report with the Leaflet the console serves (its front-end packages)."""
    return render_with(*args, leaflet_dir=LEAFLET_DIR, **kwargs)


@pytest.fixture(scope="module")
def timeline() -> list[TimelineEntry]:
    rows = [("opened", "duty-1", "chemical_leak incident opened"), ("alert", "system", "red alert <x>"),
            ("action", "system", "alert acknowledged by 320612001"), ("note", "duty-2", "下风向疏散 500 m")]
    return [TimelineEntry(id=i + 1, incident_id="k3v9q2m7xa1b", ts=T0 + 60 * i, kind=k, actor=a, text=t)
            for i, (k, a, t) in enumerate(rows)]


@pytest.fixture(scope="module")
def page(incident, timeline) -> str:
    return render_html(incident, IMPACT, layers={"grids": GRID_LAYER}, timeline=timeline, generated_ts=T0 + 600)


def _count(page: str, key: str) -> str:
    return re.search(rf'data-key="{key}">([^<]*)<', page).group(1)


def test_html_has_title_counts_and_timeline(page):
    assert "化工园区储罐泄漏 &lt;tank 3&gt; &amp; &quot;B&quot;" in page
    assert "<tank 3>" not in page  # escaped everywhere, the page title too
    assert "危化品泄漏 Chemical leak" in page and "2025-06-15 23:06:40" in page
    assert _count(page, "population") == "5,400" and _count(page, "area_km2") == "4.18 km²"
    assert [_count(page, k) for k in ("towns", "villages", "grids", "cameras", "shelters", "facilities",
                                      "drones", "vehicles")] == ["1", "1", "3", "3", "1", "2", "1", "1"]
    assert page.count('<tr data-kind="') == 4 and "red alert &lt;x&gt;" in page
    assert "下风向疏散 500 m" in page


def test_html_references_nothing_outside(page):
    assert external_refs(page) == []
    for attr in re.findall(r'\b(?:src|href)\s*=\s*["\']?([^"\'\s>]+)', page):
        assert not re.match(r"(https?:)?//", attr), attr
    for url in re.findall(r"url\(\s*['\"]?([^'\")]+)", page):
        assert url.startswith(("data:", "#")), url
    assert "cdn.jsdelivr" not in page and "code.jquery.com" not in page and "bootstrapcdn" not in page
    assert "L.tileLayer(" not in page  # no base map unless one is asked for
    assert "Leaflet 1.9" in page  # the vendored Leaflet, inline


def test_external_refs_finds_leaks():
    sample = ('<script src="https://a.example/x.js"></script><link href="//b.example/y.css">'
              '<style>@import "http://c.example/z.css"; .i{background:url(https://d.example/i.png)}</style>'
              '<div style="background: url(\'ftp://e.example/j.png\')"></div><img src="data:image/png;base64,A">'
              '<script>var s = "<a href=\\"https://leafletjs.com\\">";</script>')
    assert external_refs(sample) == ["https://a.example/x.js", "//b.example/y.css", "https://d.example/i.png",
                                     "http://c.example/z.css", "ftp://e.example/j.png"]


def test_tiles_only_when_asked(incident):
    with_tiles = render_html(incident, IMPACT, tiles="http://127.0.0.1:8080/tiles/{z}/{x}/{y}.png",
                             attribution="local tiles")
    assert "L.tileLayer(" in with_tiles and "127.0.0.1:8080/tiles" in with_tiles
    assert external_refs(with_tiles) == []


def test_basemap_inlined_as_one_image(incident):
    import cv2
    import numpy as np

    png = cv2.imencode(".png", np.zeros((8, 8, 3), np.uint8))[1].tobytes()
    page = render_html(incident, IMPACT, basemap=(png, (120.9, 31.9, 121.3, 32.2)))
    assert "L.imageOverlay(" in page and '"data:image/png;base64,' in page and " Basemap\" : image_overlay" in page
    assert "[[31.9, 120.9], [32.2, 121.3]]" in page
    assert external_refs(page) == []
    assert "L.imageOverlay(" not in render_html(incident, IMPACT)


def test_grids_outlined_only_when_affected(page):
    assert page.count("320612001001001") == 1  # in the tooltip of an affected grid
    assert "320612002001001" not in page and "elsewhere" not in page


def test_summary_json(incident, timeline):
    summary = summary_json(incident, IMPACT, timeline)
    assert set(summary) == {"incident", "impact", "timeline"}
    assert summary["incident"]["id"] == incident.id and "impact" not in summary["incident"]
    assert summary["impact"]["counts"]["cameras"] == 3 and summary["impact"]["population"] == 5400
    assert [g["code"] for g in summary["impact"]["grids"]] == GRIDS
    assert [e["kind"] for e in summary["timeline"]] == ["opened", "alert", "action", "note"]
    json.dumps(summary, allow_nan=False)  # plain JSON


def test_summary_csv(incident):
    text = summary_csv(incident, IMPACT)
    rows = list(csv.DictReader(io.StringIO(text)))
    assert tuple(rows[0]) == CSV_COLUMNS
    assert rows[0]["section"] == "incident" and rows[0]["population"] == "5400"
    sections = [r["section"] for r in rows]
    assert sections == ["incident", "towns", "villages", "grids", "grids", "grids", "cameras", "cameras",
                        "cameras", "shelters", "facilities", "facilities", "drones", "vehicles"]
    grid = rows[3]
    # a 15-digit code ends in a tab, so that Excel keeps it as text (layers/spreadsheet.py)
    assert (grid["code_or_id"], grid["name"], grid["population"], grid["distance_m"]) == (
        GRIDS[0] + "\t", "网格1", "1800", "")
    far = next(r for r in rows if r["code_or_id"] == "CAM-3")
    assert far["inside"] == "false" and float(far["distance_m"]) == pytest.approx(1410.0)
    assert summary_csv(incident, IMPACT, bom=True).startswith("\ufeffsection,")


def test_summary_csv_defuses_formulas(incident):
    impact = {"cameras": [{"layer": "cameras", "id": "C1", "name": "=HYPERLINK(\"x\")", "lon": 1, "lat": 2,
                           "distance_m": 1, "inside": True, "properties": {}}]}
    rows = list(csv.DictReader(io.StringIO(summary_csv(incident, impact))))
    assert rows[1]["name"].startswith("'=")


# ------------------------------------------------------------------------------ browser



@pytest.mark.browser
def test_renders_in_chromium_offline(browser, page, tmp_path):
    path = tmp_path / "sitrep.html"
    path.write_text(page, encoding="utf-8")
    context = browser.new_context(viewport={"width": 1400, "height": 1000}, device_scale_factor=1)
    attempted: list[str] = []
    errors: list[str] = []

    def route(r):
        if r.request.url.startswith("file://"):
            r.continue_()
        else:
            attempted.append(r.request.url)
            r.abort()

    context.route("**/*", route)
    tab = context.new_page()
    tab.on("pageerror", lambda exc: errors.append(str(exc)))
    tab.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    try:
        tab.goto(path.as_uri(), wait_until="load")
        tab.wait_for_selector(".leaflet-container .leaflet-interactive", timeout=30_000)
        assert tab.evaluate("typeof L") == "object"
        assert tab.locator(".folium-map.leaflet-container").count() == 1
        box = tab.locator(".folium-map").bounding_box()
        assert box["height"] > 300 and box["width"] > 600
        # 1 hazard area + 3 grid outlines + 3 + 1 + 2 + 1 + 1 markers
        assert tab.locator(".leaflet-overlay-pane .leaflet-interactive").count() == 12
        assert tab.locator(".leaflet-tile").count() == 0
        assert tab.locator(".sr-timeline tbody tr").count() == 4
        # A marker's popup opens with its escaped content.
        tab.evaluate("""() => { for (const k in window) { const v = window[k];
            if (v && v instanceof L.GeoJSON) v.eachLayer(l => { if (l.feature.properties.tip === 'shelters 1')
              l.openPopup(); }); } }""")
        assert "capacity" in tab.locator(".leaflet-popup-content").inner_text()
        external = tab.evaluate("""() => [...document.querySelectorAll('[src],[href]')]
            .map(e => e.getAttribute('src') || e.getAttribute('href'))
            .filter(u => /^(https?:)?\\/\\//.test(u))""")
        assert external == []
        tab.screenshot(path=str(tmp_path / "sitrep.png"), full_page=True)
    finally:
        context.close()
    assert attempted == []
    assert errors == []
