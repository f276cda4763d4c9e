/* zhizhi 智治 — the calibration page's map: the camera, its fields of view and the map side of
 * the pairs, on the console's base map (map/base.js: Leaflet from /static/vendor, the district's
 * view, the offline basemap of map/basemap.js).
 *
 * Drawn: the camera; its nominal sector (dashed); the pinhole first guess's ground area (dotted,
 * while the camera has no calibration); the preview of the pairs clicked so far (amber, dashed);
 * the calibrated ground area (green, solid: the newest saved calibration, what "which cameras see
 * this point" uses); each pair's map point (a numbered pin in the pair's colour) and, while a
 * pixel waits for its map point, where the current model puts it (a hollow ring). Under them, the
 * roads around the camera (the road layers, cut to the camera's surroundings) to find the marks
 * the pairs are made of, over the offline basemap when the console has one. */

import { esc } from "../lib/dom.js";
import { api } from "../lib/session.js";
import { baseStyle, featureStyle } from "../map/style.js";
import { colorOf } from "./frame.js";

const STYLE = {
  sector: { color: "#90a4ae", weight: 2, dashArray: "8 6", fillOpacity: 0.04, interactive: false },
  guess: { color: "#b39ddb", weight: 2, dashArray: "2 6", fillOpacity: 0.05, interactive: false },
  preview: { color: "#ffd740", weight: 3, dashArray: "10 6", fillColor: "#ffd740", fillOpacity: 0.12,
    interactive: false },
  fov: { color: "#00e676", weight: 3, fillColor: "#00e676", fillOpacity: 0.2, interactive: false },
};

export function createCalMap(view) {
  const map = view.map;
  const layers = {
    roads: L.layerGroup().addTo(map),
    sector: L.layerGroup().addTo(map),
    guess: L.layerGroup().addTo(map),
    fov: L.layerGroup().addTo(map),
    preview: L.layerGroup().addTo(map),
    pins: L.layerGroup().addTo(map),
  };
  let camera = null;

  function area(kind, geometry) {
    layers[kind].clearLayers();
    if (!geometry) return null;
    const layer = L.geoJSON(geometry, { style: () => STYLE[kind], interactive: false, className: `zk-area-${kind}` });
    layers[kind].addLayer(layer);
    return layer;
  }

  function showCamera(info) {
    const c = info.camera;
    camera = L.marker([c.lat, c.lon], {
      icon: L.divIcon({ className: "zk-cam", html: "<span>◉</span>", iconSize: [34, 34], iconAnchor: [17, 17] }),
      keyboard: false,
      title: `${c.id} ${c.name || ""}`,
    }).addTo(map);
    camera.bindTooltip(`${esc(c.name || c.id)}<br><small>${esc(c.id)}</small>`, { direction: "top", offset: [0, -14] });
    area("sector", info.sector);
    const shown = info.calibration ? info.calibration.fov : null;
    area("fov", shown);
    area("guess", info.calibration || !info.first_guess ? null : info.first_guess.fov);
    const bounds = L.geoJSON(info.sector).getBounds();
    if (shown) bounds.extend(L.geoJSON(shown).getBounds());
    bounds.extend([c.lat, c.lon]);
    map.fitBounds(bounds.pad(0.25), { animate: false, maxZoom: 19 });
  }

  /** The pairs' map points (numbered pins) and pending predictions (rings). */
  function drawPins(pairs) {
    layers.pins.clearLayers();
    for (const p of pairs) {
      const color = colorOf(p.n);
      if (p.lonlat) {
        const pin = L.marker([p.lonlat[1], p.lonlat[0]], {
          icon: L.divIcon({ className: "zk-mappin", html: `<span style="--c:${color}">${p.n}</span>`,
            iconSize: [36, 36], iconAnchor: [18, 18] }),
          keyboard: false,
          interactive: false,
        });
        layers.pins.addLayer(pin);
        if (p.predicted) {
          layers.pins.addLayer(L.polyline([[p.predicted[1], p.predicted[0]], [p.lonlat[1], p.lonlat[0]]],
            { color, weight: 2, dashArray: "4 4", opacity: 0.9, interactive: false }));
        }
      } else if (p.predicted) {
        layers.pins.addLayer(L.circleMarker([p.predicted[1], p.predicted[0]], {
          radius: 16, color, weight: 3, dashArray: "5 4", fillOpacity: 0.08, interactive: false,
          className: "zk-predicted",
        }));
        layers.pins.addLayer(L.marker([p.predicted[1], p.predicted[0]], {
          icon: L.divIcon({ className: "zk-predicted-label", html: `<span style="--c:${color}">${p.n}?</span>`,
            iconSize: [40, 24], iconAnchor: [-12, 30] }),
          interactive: false,
        }));
      }
    }
  }

  /** Draw the road layers (of GET /api/layers) within ``radius_m`` of the camera. */
  async function loadRoads(layerList, c, radiusM) {
    const dLat = radiusM / 111_320;
    const dLon = dLat / Math.max(0.1, Math.cos((c.lat * Math.PI) / 180));
    const bbox = [c.lon - dLon, c.lat - dLat, c.lon + dLon, c.lat + dLat].map((v) => v.toFixed(6)).join(",");
    const roads = layerList.filter((info) => info.kind === "road");
    for (const info of roads) {
      const fc = await api(`/api/layers/${encodeURIComponent(info.name)}/features?bbox=${bbox}`);
      const base = baseStyle(info);
      layers.roads.addLayer(L.geoJSON(fc, {
        interactive: false,
        style: (f) => {
          const s = featureStyle(info, base, f.properties || {});
          return Object.assign(s, { weight: Math.max(3, (s.weight || 2) * 2), opacity: 0.75 });
        },
      }));
    }
    return roads.length;
  }

  /** Show the whole of ``geometry`` with the camera and the pairs' map points. */
  function fitTo(geometry, pairs) {
    const bounds = L.geoJSON(geometry).getBounds();
    if (camera) bounds.extend(camera.getLatLng());
    for (const p of pairs) if (p.lonlat) bounds.extend([p.lonlat[1], p.lonlat[0]]);
    map.fitBounds(bounds.pad(0.15), { animate: false, maxZoom: 19 });
  }

  return {
    map,
    showCamera,
    fitTo,
    loadRoads,
    drawPins,
    setPreview: (geometry) => area("preview", geometry),
    setFov: (geometry) => {
      area("guess", null);
      return area("fov", geometry);
    },
    geometry: (kind) => {
      const out = [];
      layers[kind].eachLayer((l) => out.push(l.toGeoJSON()));
      return out;
    },
  };
}
