/* zhizhi 智治 — layers by viewport and zoom.
 *
 * The map asks each layer (/api/layers/{name}/features, /api/cameras/fov) for the features in its
 * view (``bbox``, padded by a quarter of the view on each side) at the detail of its zoom
 * (``zoom``: the geometry simplified and rounded to what that zoom shows; console layers/detail.py).
 * After a move (debounced "moveend") a layer is asked again only where the view is not yet
 * covered at the zoom's detail. What comes back is merged into the drawn layer: a feature
 * already drawn gets the finer geometry in place (no removal, no redraw of the layer: nothing
 * flickers on a wall), a new one is added, nothing is taken away — zooming out keeps the detail
 * it has. ``?layers=whole`` in the page's URL asks for whole layers as before (the benchmark's
 * baseline; console bench/map_load.py).
 */

const DEBOUNCE_MS = 250;
const PAD = 0.25;
const MAX_LEVEL = 19;

/** True when the page asks for whole layers (``?layers=whole``). */
export function wholeLayers() {
  return new URLSearchParams(window.location.search).get("layers") === "whole";
}

/** The detail level the map's zoom needs: the next whole zoom up. */
export function detailLevel(map) {
  return Math.max(0, Math.min(MAX_LEVEL, Math.ceil(map.getZoom() - 1e-9)));
}

/** The map's view as [west, south, east, north], padded by ``pad`` of its size, inside ±180/±90. */
export function viewBox(map, pad = 0) {
  const b = pad ? map.getBounds().pad(pad) : map.getBounds();
  const clamp = (v, lim) => Math.max(-lim, Math.min(lim, v));
  return [clamp(b.getWest(), 180), clamp(b.getSouth(), 90), clamp(b.getEast(), 180), clamp(b.getNorth(), 90)];
}

function covers(outer, inner) {
  return outer[0] <= inner[0] && outer[1] <= inner[1] && outer[2] >= inner[2] && outer[3] >= inner[3];
}

/** ``url`` asking for ``box`` at ``level`` (six decimals: a tenth of a metre). */
export function detailUrl(url, box, level) {
  const bbox = box.map((v) => v.toFixed(6)).join(",");
  return `${url}${url.includes("?") ? "&" : "?"}bbox=${bbox}&zoom=${level}`;
}

/** The key that identifies a feature across answers: its id, else its properties' id. */
function featureKey(f) {
  if (f.id !== undefined && f.id !== null) return `#${f.id}`;
  const p = f.properties || {};
  return p.id !== undefined && p.id !== null ? `p${p.id}` : null;
}

/**
 * The detail tracker of a view: ``first(url)`` is the URL of a layer's first load (whole or by
 * view), ``track(name, url, layer, level, box, onAdd)`` follows a drawn layer, and the map's
 * moves fetch and merge finer detail. ``fetchJson(url)`` is the page's API call.
 */
export function createDetail(view, fetchJson) {
  const whole = wholeLayers();
  const tracked = new Map(); // name -> {url, layer, covered: [{box, level}], byKey, onAdd}
  const detail = { whole, tracked, pending: 0, refreshes: 0 };
  let timer = null;

  detail.first = (url) => {
    if (whole) return { url, level: null, box: null };
    const level = detailLevel(view.map);
    const box = viewBox(view.map, PAD);
    return { url: detailUrl(url, box, level), level, box };
  };

  detail.track = (name, url, layer, first, onAdd) => {
    if (whole) return;
    const byKey = new Map();
    layer.eachLayer((lyr) => {
      const key = lyr.feature && featureKey(lyr.feature);
      if (key) {
        byKey.set(key, lyr);
        lyr.zzLevel = first.level;
      }
    });
    tracked.set(name, { url, layer, covered: [{ box: first.box, level: first.level }], byKey, onAdd });
  };

  function merge(entry, fc, level) {
    const { layer, byKey } = entry;
    const fresh = [];
    let changed = 0;
    for (const f of fc.features || []) {
      const key = featureKey(f);
      const drawn = byKey.get(key);
      if (!key) continue; // (every layer's feature has an id, every field of view its camera's)
      if (!drawn) {
        fresh.push(f);
      } else if ((drawn.zzLevel ?? -1) < level && f.geometry) {
        const finer = L.GeoJSON.geometryToLayer(f, layer.options);
        if (typeof drawn.setLatLngs === "function" && typeof finer.getLatLngs === "function") {
          drawn.setLatLngs(finer.getLatLngs());
        } else if (typeof drawn.setLatLng === "function" && typeof finer.getLatLng === "function") {
          drawn.setLatLng(finer.getLatLng());
        } else {
          continue; // a geometry collection: keeps what it has
        }
        drawn.feature.geometry = f.geometry;
        drawn.zzLevel = level;
        changed += 1;
      }
    }
    if (fresh.length) {
      // Features new to this layer, added in one go; Leaflet's "layeradd" names what they became.
      const added = [];
      const note = (e) => added.push(e.layer);
      layer.on("layeradd", note);
      layer.addData({ type: "FeatureCollection", features: fresh });
      layer.off("layeradd", note);
      for (const lyr of added) {
        lyr.zzLevel = level;
        const key = lyr.feature && featureKey(lyr.feature);
        if (key) byKey.set(key, lyr);
        if (entry.onAdd) entry.onAdd(lyr);
      }
      changed += added.length;
    }
    return changed;
  }

  async function refresh() {
    const map = view.map;
    const level = detailLevel(map);
    const seen = viewBox(map);
    const box = viewBox(map, PAD);
    const asks = [];
    for (const [name, entry] of tracked) {
      if (entry.covered.some((c) => c.level >= level && covers(c.box, seen))) continue;
      const url = detailUrl(entry.url, box, level);
      detail.pending += 1;
      asks.push(
        fetchJson(url)
          .then((fc) => {
            entry.covered.push({ box, level });
            if (entry.covered.length > 64) entry.covered.splice(0, entry.covered.length - 64);
            return merge(entry, fc, level);
          })
          .catch((err) => console.warn(`detail of ${name}:`, err && err.message))
          .finally(() => {
            detail.pending -= 1;
          }),
      );
    }
    if (!asks.length) return;
    await Promise.all(asks);
    detail.refreshes += 1;
    map.fire("zz:detail", { level });
  }

  detail.start = () => {
    if (whole) return;
    view.map.on("moveend", () => {
      clearTimeout(timer);
      timer = setTimeout(() => {
        refresh();
      }, DEBOUNCE_MS);
    });
  };
  detail.refresh = refresh;
  return detail;
}
