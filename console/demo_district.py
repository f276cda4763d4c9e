"""Installing the built-in demo district into the layer registry.

The demo layers (``towns``, ``villages``, ``grids`` with their population, ``roads``,
``cameras``, ``zones``, ``shelters`` and the hazardous-chemical enterprises ``facilities``) are
generated once and stored; an install that lacks one of them is regenerated; the console
rebuilds its indexes from the stored layers, so an imported real grid table would take the same path later.
"""

from __future__ import annotations

import logging
from typing import Any

from zhizhi.console.settings import DemoSettings
from zhizhi.gis.boundary import Boundary, load_boundary, synthetic_boundary
from zhizhi.gis.district import LAYER_NAMES, DistrictSpec, generate_district
from zhizhi.gis.jurisdiction import Jurisdictions
from zhizhi.layers import LayerRegistry, Scope

log = logging.getLogger(__name__)

LAYER_KINDS = {
    "towns": "town",
    "villages": "village",
    "grids": "grid",
    "roads": "road",
    "cameras": "camera",
    "zones": "zone",
    "shelters": "shelter",
    "facilities": "facility",
}
LAYER_TITLES = {
    "towns": "镇街 Towns",
    "villages": "村社区 Villages",
    "grids": "网格 Grids",
    "roads": "道路 Roads",
    "cameras": "摄像头 Cameras",
    "zones": "重点区域 Zones",
    "shelters": "避难场所 Shelters",
    "facilities": "危化品企业 Facilities",
}
LAYER_STYLES: dict[str, dict[str, Any]] = {
    "towns": {"color": "#4fc3f7", "weight": 3, "fill": False},
    "villages": {"color": "#81d4fa", "weight": 1.5, "dashArray": "4 4", "fill": False},
    "grids": {"color": "#607d8b", "weight": 0.6, "fillOpacity": 0.03},
    "roads": {"color": "#ffd54f", "weight": 2},
    "cameras": {"color": "#69f0ae", "radius": 5},
    "zones": {"color": "#ff7043", "weight": 1.5, "fillOpacity": 0.25},
    "shelters": {"color": "#26a69a", "radius": 6},
    "facilities": {"color": "#e040fb", "radius": 6},
}


def demo_source(demo: DemoSettings) -> dict[str, Any]:
    """What identifies a generated demo district (a change triggers regeneration)."""
    return {
        "seed": demo.seed,
        "adcode": demo.adcode,
        "boundary": str(demo.boundary) if demo.boundary else None,
        "towns": demo.towns,
        "villages_per_town": demo.villages_per_town,
        "grids": demo.grids,
        "cameras": demo.cameras,
    }


def demo_boundary(demo: DemoSettings) -> Boundary:
    """The synthetic boundary, or the real one from ``demo.boundary``."""
    if demo.boundary is not None:
        return load_boundary(demo.boundary, demo.adcode, demo.boundary_crs)
    return synthetic_boundary(demo.seed, demo.adcode, demo.name)


def needs_install(registry: LayerRegistry, demo: DemoSettings) -> bool:
    """True when a demo layer is missing or was generated from other settings."""
    everything = Scope.everything()
    stored = {info.name: info for info in registry.list_layers(everything)}
    if "grids" in stored and (stored["grids"].meta or {}).get("imported"):
        return False
    if any(name not in stored for name in LAYER_NAMES):
        return True
    meta = stored["grids"].meta or {}
    if meta.get("imported"):  # the county's own hierarchy: never replaced by the demo's
        return False
    return meta.get("demo_source") not in (None, demo_source(demo))


def install_demo_district(registry: LayerRegistry, demo: DemoSettings) -> Jurisdictions:
    """Generate the demo district and store its layers; return its jurisdictions."""
    boundary = demo_boundary(demo)
    spec = DistrictSpec(
        seed=demo.seed,
        towns=demo.towns,
        villages_per_town=demo.villages_per_town,
        grids=demo.grids,
        cameras=demo.cameras,
    )
    district = generate_district(spec, boundary)
    jurisdictions = Jurisdictions.from_district(district)
    cameras = district.cameras
    cameras["grid"] = jurisdictions.locate_many(cameras.geometry.x, cameras.geometry.y)
    cameras["status"] = "unknown"
    meta = {
        "synthetic": True,
        "boundary_synthetic": boundary.synthetic,
        "boundary_source": boundary.source,
        "district_code": boundary.adcode,
        "district_name": boundary.name,
        "demo_source": demo_source(demo),
    }
    # Grids last: their presence marks a complete install (see needs_install).
    for name in sorted(LAYER_NAMES, key=lambda n: n == "grids"):
        table = district.layers()[name]
        if name in ("towns", "villages", "grids"):
            codes = table["code"].tolist()
        else:
            codes = jurisdictions.lowest_containing(table.geometry.values)
        registry.save_layer(
            name,
            table,
            kind=LAYER_KINDS[name],
            owner_code=boundary.adcode,
            title=LAYER_TITLES[name],
            style=LAYER_STYLES[name],
            visibility="shared",
            meta=meta,
            codes=codes,
            replace=True,
        )
    log.info(
        "demo district %s %s installed: %d towns, %d villages, %d grids, %d cameras, "
        "%d facilities",
        boundary.adcode, boundary.name, len(district.towns), len(district.villages),
        len(district.grids), len(district.cameras), len(district.facilities),
    )
    return jurisdictions
