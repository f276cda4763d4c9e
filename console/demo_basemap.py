"""The demo's own basemap: with no basemap imported, one is rendered from the console's layers.

When a console starts (:class:`zhizhi.console.runtime.Runtime`, right after its store and the
demo district), :func:`start_basemap` renders one if ``demo_basemap`` is on and no tile server
(``map.tile_url``) is configured: when ``data_dir/basemap`` holds no basemap, or holds a
rendered one made from other layers, it draws the stored ``towns``, ``villages`` and ``roads``
(and, for the synthetic demo, its generated rivers and lake,
:func:`zhizhi.gis.district.generate_water`) into a raster MBTiles file
(:func:`zhizhi.gis.basemap_render.render_pyramid`, zooms :data:`ZOOMS`) and installs it exactly
as ``zhizhi basemap import`` would, named :data:`DEMO_NAME`. An imported basemap is never
replaced; importing one replaces the rendered one. ``zhizhi basemap render`` does the same by
hand.

What it was made from (each layer's feature count and last change, the demo's settings, the
style's version, whether names could be drawn) is kept in the manifest under ``rendered``: a
new demo district, an imported hierarchy or a CJK font installed later makes the next start
render it again (a running console that applies an imported hierarchy renders it in the
background, :func:`refresh_basemap`). Consoles that share the data folder render it once (a file
lock).
"""

from __future__ import annotations

import fcntl
import logging
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import shapely

from zhizhi.console.basemap import basemap_dir, install, read_manifest
from zhizhi.console.settings import Settings
from zhizhi.gis.basemap_render import Scene, leaflet_center, render_pyramid
from zhizhi.gis.district import generate_water
from zhizhi.gis.fonts import cjk_font
from zhizhi.gis.mbtiles import MBTilesWriter, inspect_mbtiles
from zhizhi.layers import LayerRegistry, Scope

log = logging.getLogger(__name__)

DEMO_NAME = "demo (rendered)"
ZOOMS = (9, 15)
#: Bumped when the drawing changes, so existing renders are redrawn.
STYLE_VERSION = 2
LAYERS = ("towns", "villages", "roads")


def _layer_infos(registry: LayerRegistry) -> dict:
    return {info.name: info for info in registry.list_layers(Scope.everything())}


def fingerprint(registry: LayerRegistry, *, labels: bool, zooms: tuple[int, int] = ZOOMS) -> dict | None:
    """What a render of the stored layers depends on; ``None`` when there is nothing to draw
    (no ``towns`` layer)."""
    infos = _layer_infos(registry)
    if "towns" not in infos:
        return None
    grids = infos.get("grids")
    meta = (grids.meta if grids is not None else None) or {}
    layers = {
        name: [infos[name].feature_count, infos[name].updated_at.isoformat() if infos[name].updated_at else None]
        for name in LAYERS if name in infos
    }
    return {"style": STYLE_VERSION, "zooms": list(zooms), "labels": labels, "layers": layers,
            "demo_source": meta.get("demo_source"), "synthetic": bool(meta.get("synthetic"))}


def needs_render(data_dir: Path, current: dict | None) -> bool:
    """True when ``data_dir`` has no basemap, or a rendered one made from other layers."""
    manifest = read_manifest(data_dir)
    if manifest is None or not (basemap_dir(data_dir) / str(manifest.get("file", ""))).is_file():
        return current is not None
    rendered = manifest.get("rendered")
    if not isinstance(rendered, dict):
        return False  # imported: the county's own, never replaced
    return current is not None and rendered.get("fingerprint") != current


def scene_of(registry: LayerRegistry, synthetic: bool, seed: int | None) -> Scene:
    """The stored layers as a scene; the generated water only for the synthetic demo."""
    everything = Scope.everything()
    infos = _layer_infos(registry)
    tables = {name: registry.read_features(name, everything) for name in LAYERS if name in infos}
    towns = tables["towns"]
    land = shapely.union_all(towns.geometry.values)
    water = None
    if synthetic and seed is not None:
        roads = tables.get("roads")
        avoid = list(roads.geometry.values) if roads is not None else []
        avoid += list(shapely.points([leaflet_center(g) for g in towns.geometry.values]))
        water = generate_water(land, seed, np.asarray(avoid, dtype=object))
    return Scene.build(land, water=water, towns=towns, villages=tables.get("villages"), roads=tables.get("roads"))


@contextmanager
def _render_lock(folder: Path) -> Iterator[None]:
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / ".render.lock").open("a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def render_demo_basemap(data_dir: Path, registry: LayerRegistry, *, seed: int | None = None,
                        force: bool = False, zooms: tuple[int, int] = ZOOMS) -> dict | None:
    """Render the basemap from the stored layers for ``zooms`` when ``data_dir`` needs one (or
    with ``force``, unless a basemap was imported); the new basemap's description with the
    render's figures under ``rendered``, or ``None`` when nothing was rendered."""
    font = cjk_font()
    current = fingerprint(registry, labels=font is not None, zooms=zooms)
    folder = basemap_dir(data_dir)
    with _render_lock(folder):
        manifest = read_manifest(data_dir)
        imported = manifest is not None and not isinstance(manifest.get("rendered"), dict) and (
            folder / str(manifest.get("file", ""))).is_file()
        if current is None or imported or not (force or needs_render(data_dir, current)):
            return None
        if font is None:
            log.warning("basemap: no CJK font found (install fonts-noto-cjk): the rendered basemap has no names")
        for stale in folder.glob(".rendered-*.mbtiles"):  # left by a render that was killed (we hold the lock)
            stale.unlink(missing_ok=True)
        scene = scene_of(registry, current["synthetic"], seed)
        w, s, e, n = scene.bounds()
        partial = folder / f".rendered-{os.getpid()}.mbtiles"
        metadata = {
            "name": DEMO_NAME, "format": "png", "type": "baselayer", "bounds": f"{w},{s},{e},{n}",
            "minzoom": zooms[0], "maxzoom": zooms[1],
            "attribution": "zhizhi 合成底图 rendered from the district's layers" if current["synthetic"]
            else "zhizhi 底图 rendered from the district's layers",
        }
        log.info("basemap: rendering the district's layers, zooms %d-%d", *zooms)

        def progress(z: int, done: int, _total: int) -> None:
            log.info("basemap: zoom %d rendered (%d tiles)", z, done)

        try:
            with MBTilesWriter(partial, metadata) as out:
                stats = render_pyramid(scene, zooms, out.add, bounds=(w, s, e, n), font=font, progress=progress)
            info = inspect_mbtiles(partial)
            rendered = {"fingerprint": current, **stats.as_dict()}
            summary = install(data_dir, partial, "mbtiles", info, name=DEMO_NAME, move=True,
                              extra={"rendered": rendered})
        finally:
            partial.unlink(missing_ok=True)
    log.info("basemap: %d tiles rendered in %.1f s (%.1f MB, %d names)", stats.tiles, stats.seconds,
             stats.bytes / 1e6, stats.names)
    return summary


def start_basemap(settings: Settings, registry: LayerRegistry) -> dict | None:
    """:func:`render_demo_basemap` when a console starts, if ``settings`` ask for it: a failure
    is logged, never fatal (the map pages draw the layers without a basemap)."""
    if not settings.demo_basemap or settings.map.tile_url:
        return None
    try:
        return render_demo_basemap(settings.data_dir, registry, seed=settings.demo.seed)
    except Exception:  # a basemap is not worth a console that does not start
        log.exception("basemap: rendering the demo basemap failed; the map pages show the layers without one")
        return None


def refresh_basemap(settings: Settings, registry: LayerRegistry) -> threading.Thread:
    """:func:`start_basemap` on a thread of its own, for a running console whose layers just
    changed (an imported hierarchy): the pages keep the old basemap until the new one is
    installed, then pick it up like an import. The thread, started."""
    thread = threading.Thread(target=start_basemap, args=(settings, registry), name="basemap-render", daemon=True)
    thread.start()
    return thread
