/* zhizhi 智治 — the map of the district: the command map page (/) and the wall's map screen.
 *
 * Loads the district configuration and every layer the caller may see from the console's own
 * API, draws them with Leaflet (served from /static/vendor/, never from the internet), and
 * answers clicks (which grid, which cameras see this point) and searches. Without a login's
 * token, or when the console refuses it (401), the page goes to /login?next=... (lib/session.js).
 *
 * startMap() returns the map's view: {map, layers, fov, labels, layerInfo, units, camerasById,
 * basemap ({info, layer} of the offline basemap, or null), config, selected, highlight, located,
 * detail (map/detail.js: layers by view and zoom), ready, fitDistrict, clearSelection, inspect, search, select}. ``ready`` resolves, and body[data-ready] becomes "true", once every layer is drawn;
 * on any failure a banner says what failed and body[data-ready] becomes "error". The page's
 * header (lib/header.js, with statusItemHtml) must be mounted first.
 */

import { fmtInt } from "../lib/format.js";
import { setStatus, showConfig, showUnavailable } from "../lib/header.js";
import { ApiError, api, toLogin, token } from "../lib/session.js";
import { addLayerControl } from "./layer-control.js";
import { applyConfig, createMap, fitDistrict, leafletMissing, showFeatureCount } from "./base.js";
import { loadBasemap } from "./basemap.js";
import { createDetail } from "./detail.js";
import { loadFov, loadLayer } from "./layers.js";
import { buildLegend } from "./legend.js";
import { createLocator } from "./locate.js";
import { mountPanels, setLoading } from "./panels.js";
import { reportError } from "./report.js";
import { createSearch } from "./search.js";

/** Start the map in the page's #map; ``pageTitle`` follows the district's name in the title. */
export function startMap({ pageTitle }) {
  let resolveReady;
  let rejectReady;
  const ready = new Promise((resolve, reject) => {
    resolveReady = resolve;
    rejectReady = reject;
  });
  ready.catch(() => {}); // failures are shown in the banner; no unhandled-rejection noise

  const view = {
    map: null,
    layers: {}, // layer name -> L.GeoJSON, one Leaflet layer per feature
    fov: null, // camera field-of-view cones (L.GeoJSON)
    basemap: null, // the offline basemap: {info, layer} (map/basemap.js)
    labels: {}, // layer name -> L.LayerGroup of permanent name labels
    layerInfo: {}, // layer name -> the entry of GET /api/layers
    units: new Map(), // code -> {name, level, layer}: towns, villages and grids drawn
    camerasById: new Map(), // camera id -> its marker
    config: null,
    selected: null, // the last search hit flown to
    highlight: null, // outline of the last search hit
    located: null, // the last click: {lon, lat, location, cameras}
    detail: null, // layers by view and zoom (map/detail.js)
    ready,
  };
  view.fitDistrict = (options) => fitDistrict(view, options);

  function finish(ok, error) {
    setLoading(null);
    if (ok) {
      performance.mark("zhizhi-map-drawn"); // every layer drawn (bench/map_load.py)
      document.body.dataset.ready = "true";
      setStatus("ok", "在线 Live");
      resolveReady(view);
    } else {
      document.body.dataset.ready = "error";
      setStatus("error", "数据异常 Error");
      if (!view.config) showUnavailable("地图不可用 Map unavailable");
      rejectReady(error || new Error("the map could not be drawn completely"));
    }
  }

  async function start() {
    if (!token()) {
      toLogin(); // nothing is asked of the console before the login
      return;
    }
    mountPanels();
    Object.assign(view, createSearch(view));
    view.inspect = createLocator(view);
    if (leafletMissing()) {
      finish(false, new Error("Leaflet assets missing"));
      return;
    }
    const map = createMap(view);
    view.detail = createDetail(view, api); // layers by view and zoom (map/detail.js)
    map.on("click", (e) => view.inspect(e.latlng.lng, e.latlng.lat).catch(() => {}));

    let config;
    let layerList;
    try {
      [config, layerList] = await Promise.all([api("/api/config"), api("/api/layers")]);
    } catch (err) {
      reportError("无法加载辖区配置或图层列表 Could not load the configuration or the layer list", err);
      finish(false, err);
      return;
    }
    showConfig(config, pageTitle);
    if (!applyConfig(view, config)) reportError("辖区范围缺失 District bounds missing in /api/config", "");
    if (!Array.isArray(layerList)) {
      const err = new ApiError("/api/layers", 200, "不是图层列表 not a list of layers");
      reportError("图层列表无效 Invalid layer list", err);
      finish(false, err);
      return;
    }
    for (const info of layerList) view.layerInfo[info.name] = info;
    buildLegend(new Set(layerList.map((info) => info.kind)));
    // The offline basemap under the layers, when one is imported (GET /api/basemap).
    const basemap = loadBasemap(view).catch((err) => {
      reportError("底图加载失败 The basemap failed to load", err);
      throw err;
    });
    basemap.catch(() => {}); // awaited below, with the layers

    const total = layerList.length + 1;
    let done = 0;
    const progress = () => setLoading(`正在加载图层 Loading layers ${done}/${total}`);
    progress();
    const track = (p) =>
      p.finally(() => {
        done += 1;
        progress();
      });
    const cameraInfo = layerList.find((l) => l.kind === "camera");
    const settled = await Promise.allSettled([
      ...layerList.map((info) =>
        track(loadLayer(view, info)).catch((err) => {
          reportError(`图层加载失败 Layer “${info.title || info.name}” failed to load`, err);
          throw err;
        }),
      ),
      track(loadFov(view, cameraInfo)).catch((err) => {
        reportError("摄像头视域加载失败 Camera fields of view failed to load", err);
        throw err;
      }),
    ]);
    const basemapSettled = (await Promise.allSettled([basemap]))[0];
    if (basemapSettled.status === "rejected") settled.push(basemapSettled);
    const loaded = settled.slice(0, layerList.length).filter((r) => r.status === "fulfilled").map((r) => r.value);
    addLayerControl(view, loaded, cameraInfo);
    fitDistrict(view);
    showFeatureCount(fmtInt(loaded.reduce((n, l) => n + l.count, 0)));
    view.detail.start(); // finer detail after each move

    const failed = settled.filter((r) => r.status === "rejected");
    finish(failed.length === 0, failed.length ? failed[0].reason : null);
  }

  const run = () =>
    start().catch((err) => {
      reportError("页面启动失败 The page failed to start", err);
      finish(false, err);
    });
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", run);
  else run();
  return view;
}
