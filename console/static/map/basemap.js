/* zhizhi 智治 — the offline basemap: the MBTiles file imported with `zhizhi basemap import`,
 * served by the console itself (GET /api/basemap, /api/basemap/tiles/{z}/{x}/{y}.{ext}).
 *
 * Tiles are fetched with the bearer header (lib/session.js fetchWithToken) and shown from blob:
 * URLs, like the evidence files: no token or ticket goes into a URL, and the browser's cache
 * still keeps each tile (Cache-Control, ETag; the file's id is in the URL). Nothing is loaded
 * from anywhere but the console's own host. */

import { esc } from "../lib/dom.js";
import { api, fetchWithToken } from "../lib/session.js";
import { boundsOf } from "./base.js";

let AuthTileLayer = null;

/** A tile layer whose tiles come through fetch() with the login's token (made once Leaflet is
 *  known to be loaded). */
function authTileLayer(url, options) {
  AuthTileLayer = AuthTileLayer || L.TileLayer.extend({ createTile });
  return new AuthTileLayer(url, options);
}

/** Leaflet's createTile: the tile fetched with the token, shown from a blob: URL. */
function createTile(coords, done) {
  const img = document.createElement("img");
  img.alt = "";
  img.setAttribute("role", "presentation");
  fetchWithToken(this.getTileUrl(coords))
    .then((resp) => (resp.ok ? resp.blob() : Promise.reject(new Error(`HTTP ${resp.status}`))))
    .then((blob) => {
      const url = URL.createObjectURL(blob);
      img.onload = () => {
        URL.revokeObjectURL(url);
        done(null, img);
      };
      img.onerror = () => {
        URL.revokeObjectURL(url);
        done(new Error("tile not decodable"), img);
      };
      img.src = url;
    })
    .catch((err) => done(err, img));
  return img;
}

/**
 * Add the imported basemap under the vector layers: ``{info, layer}`` (the entry of
 * GET /api/basemap and its Leaflet layer), or null when none is imported.
 */
export async function loadBasemap(view) {
  const answer = await api("/api/basemap");
  const info = answer && answer.basemap;
  if (!info || !info.tile_url) return null;
  const bounds = boundsOf(info.bounds);
  const layer = authTileLayer(info.tile_url, {
    minNativeZoom: info.minzoom,
    maxNativeZoom: info.maxzoom,
    maxZoom: 19,
    bounds: bounds && bounds.isValid() ? bounds : undefined,
    className: "zz-basemap",
    attribution: info.attribution ? esc(info.attribution) : "",
  });
  layer.addTo(view.map);
  view.map.getContainer().classList.add("zz-has-tiles");
  view.basemap = { info, layer };
  return view.basemap;
}
