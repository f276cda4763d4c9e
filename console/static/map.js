/* zhizhi 智治 — the command map page.
 *
 * Loads the district configuration and every layer the caller may see from the console's own
 * API, draws them with Leaflet (served from /static/vendor/, never from the internet), and
 * answers clicks (which grid, which cameras see this point) and searches.
 *
 * Every API call sends the login's token (sessionStorage "zhizhi.token") as a bearer token;
 * without one, or when the console refuses it (401), the page goes to /login?next=... .
 *
 * For tests and later pages (the video wall): window.zhizhi = {map, layers, fov, ready, ...};
 * `ready` resolves, and body[data-ready] becomes "true", once every layer is drawn. On any
 * failure a banner says what failed and body[data-ready] becomes "error".
 */
(function () {
  "use strict";

  const boot = window.zhizhiBoot || {
    assetErrors: [],
    errors: [],
    fail: (title, detail) => console.error(title, detail),
  };

  let resolveReady;
  let rejectReady;
  const ready = new Promise((resolve, reject) => {
    resolveReady = resolve;
    rejectReady = reject;
  });
  ready.catch(() => {}); // failures are shown in the banner; no unhandled-rejection noise

  const zhizhi = {
    map: null,
    layers: {}, // layer name -> L.GeoJSON, one Leaflet layer per feature
    fov: null, // camera field-of-view cones (L.GeoJSON)
    labels: {}, // layer name -> L.LayerGroup of permanent name labels
    layerInfo: {}, // layer name -> the entry of GET /api/layers
    config: null,
    selected: null, // the last search hit flown to
    highlight: null, // outline of the last search hit
    located: null, // the last click: {lon, lat, location, cameras}
    ready,
    fitDistrict,
    clearSelection,
    inspect,
    search,
    select,
    logout,
  };
  window.zhizhi = zhizhi;

  // ---------------------------------------------------------------------------------------
  // Look: fallback styles per layer kind, colours by attribute, panes (drawing order).

  const KIND_STYLE = {
    town: { color: "#4fc3f7", weight: 3, opacity: 0.95, fill: false },
    village: { color: "#81d4fa", weight: 1.5, opacity: 0.7, dashArray: "4 4", fill: false },
    grid: { color: "#607d8b", weight: 0.6, opacity: 0.8, fillColor: "#4f6b85", fillOpacity: 0.03 },
    road: { color: "#ffd54f", weight: 2, opacity: 0.85 },
    camera: { color: "#69f0ae", radius: 5 },
    zone: { color: "#ff7043", weight: 1.5, fillOpacity: 0.25 },
    shelter: { color: "#26a69a", radius: 6 },
    polygon: { color: "#b39ddb", weight: 1.5, fillOpacity: 0.15 },
    line: { color: "#f48fb1", weight: 2 },
    point: { color: "#e1bee7", radius: 5 },
  };
  const ZONE_COLORS = {
    school: { color: "#f06292", label: "学校 School" },
    residential_core: { color: "#9575cd", label: "居住核心区 Residential core" },
    hazmat_no_stopping: { color: "#ff5252", label: "危化品禁停区 Hazmat no-stopping", dashArray: "6 4" },
    hazmat_parking: { color: "#ff9100", label: "危化品停车场 Hazmat parking" },
  };
  const ROAD_CLASSES = {
    expressway: { color: "#ffb74d", weight: 4.5, opacity: 0.95, label: "高速 Expressway" },
    arterial: { weight: 2.6, opacity: 0.9, label: "干道 Arterial" },
    local: { weight: 1.2, opacity: 0.55, label: "乡道 Local" },
  };
  const CAMERA_STATUS = {
    online: { color: "#00e676", label: "在线" },
    ok: { color: "#00e676", label: "在线" },
    unknown: { color: null, label: "未知" }, // null: the layer's own colour
    offline: { color: "#ff5252", label: "离线" },
    fault: { color: "#ff5252", label: "故障" },
    maintenance: { color: "#ffb300", label: "维护" },
  };
  const KIND_LABEL = {
    district: "区县 District",
    town: "镇街 Town",
    village: "村社区 Village",
    grid: "网格 Grid",
    road: "道路 Road",
    camera: "摄像头 Camera",
    zone: "重点区域 Zone",
    shelter: "避难场所 Shelter",
  };
  const LEVEL_LABEL = { district: "区县", town: "镇街", village: "村社区", grid: "网格" };
  // Drawing order, bottom to top (Leaflet's overlay pane is 400, markers 600, tooltips 650).
  const PANES = {
    "zz-grids": 405,
    "zz-zones": 410,
    "zz-villages": 415,
    "zz-towns": 420,
    "zz-roads": 425,
    "zz-lines": 430,
    "zz-fov": 435,
    "zz-points": 445,
    "zz-pick": 455,
    "zz-highlight": 460,
    "zz-labels": 470,
  };
  const KIND_PANE = {
    grid: "zz-grids",
    zone: "zz-zones",
    village: "zz-villages",
    town: "zz-towns",
    road: "zz-roads",
    camera: "zz-points",
    shelter: "zz-points",
  };
  const KIND_ORDER = ["town", "village", "grid", "zone", "road", "camera", "shelter"];

  // ---------------------------------------------------------------------------------------
  // Small helpers.

  const $ = (sel) => document.querySelector(sel);
  const esc = (s) =>
    String(s == null ? "" : s).replace(
      /[&<>"']/g,
      (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c],
    );
  const fmtInt = (n) => (Number.isFinite(n) ? Math.round(n).toLocaleString("zh-CN") : "—");
  const pad = (n) => String(n).padStart(2, "0");

  class ApiError extends Error {
    constructor(url, status, detail) {
      super(`${url} → ${status ? "HTTP " + status : "no response"}${detail ? ": " + detail : ""}`);
      this.url = url;
      this.status = status;
      this.detail = detail;
    }
  }

  // ---------------------------------------------------------------------------------------
  // Session: the login page's token (sessionStorage, this tab only), sent on every API call;
  // a missing or refused token leads back to the login page.

  const TOKEN_KEY = "zhizhi.token";
  const USER_KEY = "zhizhi.user";
  const sessionToken = () => sessionStorage.getItem(TOKEN_KEY);

  let leaving = false;

  /** To the login page, which returns here afterwards (once, however many calls were refused). */
  function toLogin() {
    sessionStorage.removeItem(TOKEN_KEY);
    if (leaving) return;
    leaving = true;
    const here = location.pathname + location.search + location.hash;
    location.replace(`/login?next=${encodeURIComponent(here)}`);
  }

  /** End the session on the console (the token is revoked), then log in again. */
  async function logout() {
    const token = sessionToken();
    if (token) {
      try {
        await fetch("/api/auth/logout", { method: "POST", headers: { Authorization: `Bearer ${token}` } });
      } catch (_) {
        // offline: the token still expires on its own
      }
    }
    sessionStorage.removeItem(USER_KEY);
    toLogin();
  }

  function showUser() {
    let user = {};
    try {
      user = JSON.parse(sessionStorage.getItem(USER_KEY) || "{}") || {};
    } catch (_) {
      user = {};
    }
    const name = $("#zz-user-name");
    if (name) name.textContent = user.name || "—";
    const button = $("#zz-logout");
    if (button) button.addEventListener("click", () => logout());
  }

  async function detailOf(resp) {
    try {
      const body = await resp.json();
      const d = body && body.detail !== undefined ? body.detail : body;
      return typeof d === "string" ? d : JSON.stringify(d);
    } catch (_) {
      return resp.statusText || "";
    }
  }

  /** GET a JSON document from the console; ApiError on any failure (404 optional). */
  async function api(url, { allow404 = false } = {}) {
    let resp;
    try {
      resp = await fetch(url, {
        headers: { Accept: "application/json", Authorization: `Bearer ${sessionToken() || ""}` },
        cache: "no-store",
      });
    } catch (err) {
      throw new ApiError(url, 0, `网络错误 network error (${err.message})`);
    }
    if (resp.status === 401) {
      toLogin();
      throw new ApiError(url, 401, "请重新登录 log in again");
    }
    if (allow404 && resp.status === 404) return { notFound: true, detail: await detailOf(resp) };
    if (!resp.ok) throw new ApiError(url, resp.status, await detailOf(resp));
    try {
      return await resp.json();
    } catch (err) {
      throw new ApiError(url, resp.status, `响应不是 JSON invalid JSON (${err.message})`);
    }
  }

  function reportError(title, err) {
    console.error(title, err);
    boot.fail(title, err && err.message ? err.message : String(err || ""));
    setStatus("error", "数据异常 Error");
  }

  function setStatus(state, text) {
    const el = $("#zz-status");
    if (!el) return;
    // An error stays visible until the page is reloaded.
    if (el.dataset.state === "error" && state !== "error") return;
    el.dataset.state = state;
    $("#zz-status-text").textContent = text;
  }

  function setLoading(text) {
    const box = $("#zz-loading");
    if (!box) return;
    if (text == null) {
      box.hidden = true;
    } else {
      box.hidden = false;
      $("#zz-loading-text").textContent = text;
    }
  }

  function boundsOf(b) {
    // [minlon, minlat, maxlon, maxlat] -> L.LatLngBounds
    if (!Array.isArray(b) || b.length !== 4 || !b.every(Number.isFinite)) return null;
    return L.latLngBounds([b[1], b[0]], [b[3], b[2]]);
  }

  function whenMoved(map, timeoutMs = 3000) {
    return new Promise((resolve) => {
      const timer = setTimeout(done, timeoutMs);
      function done() {
        clearTimeout(timer);
        map.off("moveend", done);
        resolve();
      }
      map.once("moveend", done);
    });
  }

  // ---------------------------------------------------------------------------------------
  // Header: clock.

  function startClock() {
    const days = ["日", "一", "二", "三", "四", "五", "六"];
    const tick = () => {
      const now = new Date();
      $("#zz-clock-time").textContent =
        `${pad(now.getHours())}:${pad(now.getMinutes())}:${pad(now.getSeconds())}`;
      $("#zz-clock-date").textContent =
        `${now.getFullYear()}-${pad(now.getMonth() + 1)}-${pad(now.getDate())} 星期${days[now.getDay()]}`;
    };
    tick();
    setInterval(tick, 1000);
  }

  // ---------------------------------------------------------------------------------------
  // Map.

  function leafletMissing() {
    if (boot.assetErrors.length) return true;
    if (typeof window.L === "undefined" || typeof L.map !== "function") {
      boot.fail(
        "前端资源缺失 Leaflet not loaded (/static/vendor/leaflet/leaflet.js)",
        "运行 scripts/install_assets.sh 安装前端资源 (run scripts/install_assets.sh, or make setup)",
      );
      return true;
    }
    // leaflet.css missing would leave tiles and panes unpositioned: check that it applies.
    const probe = document.createElement("div");
    probe.className = "leaflet-pane";
    document.body.appendChild(probe);
    const positioned = getComputedStyle(probe).position === "absolute";
    probe.remove();
    if (!positioned) {
      boot.fail(
        "前端资源缺失 Leaflet stylesheet not applied (/static/vendor/leaflet/leaflet.css)",
        "运行 scripts/install_assets.sh 安装前端资源 (run scripts/install_assets.sh, or make setup)",
      );
      return true;
    }
    return false;
  }

  function createMap() {
    const map = L.map("map", {
      zoomControl: false,
      attributionControl: true,
      minZoom: 6,
      maxZoom: 19,
      zoomSnap: 0.25,
      zoomDelta: 0.5,
      wheelPxPerZoomLevel: 90,
    });
    map.attributionControl.setPrefix("Leaflet");
    for (const [name, z] of Object.entries(PANES)) {
      const pane = map.createPane(name);
      pane.style.zIndex = String(z);
      if (name === "zz-labels") pane.style.pointerEvents = "none";
    }
    L.control.zoom({ position: "bottomright", zoomInTitle: "放大 Zoom in", zoomOutTitle: "缩小 Zoom out" }).addTo(map);
    L.control.scale({ position: "bottomleft", imperial: false, maxWidth: 160 }).addTo(map);
    readoutControl().addTo(map);
    map.on("zoomend", () => updateZoomClasses(map));
    map.on("click", (e) => {
      inspect(e.latlng.lng, e.latlng.lat).catch(() => {});
    });
    zhizhi.map = map;
    return map;
  }

  function updateZoomClasses(map) {
    const z = map.getZoom();
    const el = map.getContainer();
    el.classList.toggle("zz-z-villages", z >= 12);
    el.classList.toggle("zz-z-streets", z >= 14);
    el.classList.toggle("zz-z-detail", z >= 15);
    const r = $("#zz-readout-zoom");
    if (r) r.textContent = z.toFixed(1);
    // Point symbols grow at street zooms, where there is room for them.
    const scale = z >= 16 ? 1.8 : z >= 14 ? 1.35 : 1;
    for (const name of Object.keys(zhizhi.layers)) {
      const info = zhizhi.layerInfo[name];
      if (!info || geometryFamily(info) !== "point") continue;
      zhizhi.layers[name].eachLayer((lyr) => {
        if (typeof lyr.setRadius !== "function") return;
        if (lyr.options.zzRadius == null) lyr.options.zzRadius = lyr.getRadius();
        lyr.setRadius(lyr.options.zzRadius * scale);
      });
    }
  }

  function readoutControl() {
    const Readout = L.Control.extend({
      options: { position: "bottomleft" },
      onAdd(map) {
        const div = L.DomUtil.create("div", "zz-readout");
        div.innerHTML =
          '<span>经纬度 <b id="zz-readout-pos">—</b></span>' +
          '<span>缩放 <b id="zz-readout-zoom">—</b></span>' +
          '<span>要素 <b id="zz-readout-features">—</b></span>';
        L.DomEvent.disableClickPropagation(div);
        map.whenReady(() => {
          const c = map.getCenter();
          $("#zz-readout-pos").textContent = `${c.lng.toFixed(5)}, ${c.lat.toFixed(5)}`;
        });
        map.on("mousemove", (e) => {
          $("#zz-readout-pos").textContent = `${e.latlng.lng.toFixed(5)}, ${e.latlng.lat.toFixed(5)}`;
        });
        return div;
      },
    });
    return new Readout();
  }

  function applyConfig(map, config) {
    zhizhi.config = config;
    const district = config.district || {};
    const name = district.name || district.code || "—";
    $("#zz-district-name").textContent = name;
    document.title = `${name} · 智治综合指挥一张图`;
    $("#zz-synthetic").hidden = !config.synthetic;
    const scope = config.scope || {};
    $("#zz-scope-name").textContent = scope.name
      ? `${scope.name}${scope.level && LEVEL_LABEL[scope.level] ? " · " + LEVEL_LABEL[scope.level] : ""}`
      : "—";

    const mapCfg = config.map || {};
    if (mapCfg.tile_url) {
      // Only a tile server configured for the center's own network; there is none by default.
      L.tileLayer(mapCfg.tile_url, {
        attribution: mapCfg.tile_attribution || "",
        maxZoom: 19,
        className: "zz-tiles",
      }).addTo(map);
      map.getContainer().classList.add("zz-has-tiles");
    } else if (mapCfg.tile_attribution) {
      map.attributionControl.addAttribution(esc(mapCfg.tile_attribution));
    }

    const bounds = boundsOf(district.bounds);
    if (bounds && bounds.isValid()) {
      fitDistrict();
      map.setMaxBounds(bounds.pad(1.5));
    } else if (Array.isArray(district.center)) {
      map.setView([district.center[1], district.center[0]], 11, { animate: false });
    } else {
      map.setView([32.0, 121.0], 10, { animate: false });
      reportError("辖区范围缺失 District bounds missing in /api/config", "");
    }
    updateZoomClasses(map);
  }

  /** Show the whole district, clear of the layer control in the top-right corner. */
  function fitDistrict(options = {}) {
    const map = zhizhi.map;
    const cfg = zhizhi.config;
    // The caller's own jurisdiction (a town sees its town), else the whole district.
    const bounds = cfg && boundsOf((cfg.scope && cfg.scope.bounds) || cfg.district.bounds);
    if (!map || !bounds || !bounds.isValid()) return Promise.resolve();
    const moved = options.animate ? whenMoved(map) : Promise.resolve();
    map.fitBounds(bounds, Object.assign(viewPadding(28), { animate: false }, options));
    return moved;
  }

  /** Padding that keeps a fitted area clear of the layer control (top right). */
  function viewPadding(pad) {
    const control = zhizhi.map && zhizhi.map.getContainer().querySelector(".zz-layers");
    const right = control ? control.offsetWidth + pad : pad;
    return { paddingTopLeft: [pad, pad], paddingBottomRight: [right, pad] };
  }

  // ---------------------------------------------------------------------------------------
  // Layers.

  function geometryFamily(info) {
    const t = String(info.geometry_type || "").toLowerCase();
    if (t.includes("point")) return "point";
    if (t.includes("line")) return "line";
    return "polygon";
  }

  function baseStyle(info) {
    const fallback = KIND_STYLE[info.kind] || KIND_STYLE[geometryFamily(info)];
    return Object.assign({}, fallback, info.style || {});
  }

  function featureStyle(info, base, props) {
    const s = Object.assign({}, base);
    if (info.kind === "zone") {
      const z = ZONE_COLORS[props.zone_type];
      if (z) {
        s.color = z.color;
        s.fillColor = z.color;
        if (z.dashArray) s.dashArray = z.dashArray;
      }
      s.fillOpacity = s.fillOpacity == null ? 0.25 : s.fillOpacity;
    } else if (info.kind === "road") {
      const r = ROAD_CLASSES[props.road_class];
      if (r) {
        if (r.color) s.color = r.color;
        s.weight = r.weight;
        s.opacity = r.opacity;
      }
      s.lineCap = "round";
      s.lineJoin = "round";
    }
    return s;
  }

  function pointStyle(info, base, props) {
    if (info.kind === "camera") {
      const st = CAMERA_STATUS[String(props.status || "unknown").toLowerCase()] || CAMERA_STATUS.unknown;
      const c = st.color || base.color;
      return {
        radius: base.radius || 5,
        color: "#04101c",
        weight: 1.5,
        fillColor: c,
        fillOpacity: 0.95,
      };
    }
    if (info.kind === "shelter") {
      return {
        radius: base.radius || 6,
        color: "#e0f2f1",
        weight: 2,
        fillColor: base.color,
        fillOpacity: 0.95,
      };
    }
    return {
      radius: base.radius || 5,
      color: "#04101c",
      weight: 1.2,
      fillColor: base.fillColor || base.color,
      fillOpacity: 0.9,
    };
  }

  function tooltipHtml(info, props) {
    const kind = KIND_LABEL[info.kind] || esc(info.title || info.name);
    const code = props.code || props.id || "";
    let extra = "";
    if (info.kind === "grid") {
      const up = [unitName(props.village), unitName(props.town)].filter(Boolean).join(" · ");
      if (up) extra = `<div class="zz-tip-extra">${esc(up)}</div>`;
    } else if (info.kind === "zone" && ZONE_COLORS[props.zone_type]) {
      extra = `<div class="zz-tip-extra">${esc(ZONE_COLORS[props.zone_type].label)}</div>`;
    } else if (info.kind === "road" && ROAD_CLASSES[props.road_class]) {
      extra = `<div class="zz-tip-extra">${esc(ROAD_CLASSES[props.road_class].label)}</div>`;
    } else if (info.kind === "shelter" && props.capacity != null) {
      extra = `<div class="zz-tip-extra">容纳 ${esc(fmtInt(Number(props.capacity)))} 人</div>`;
    } else if (info.kind === "camera") {
      extra = `<div class="zz-tip-extra">${esc(props.id || "")}</div>`;
    }
    return (
      `<div class="zz-tip-kind">${esc(kind)}</div>` +
      `<div class="zz-tip-name">${esc(props.name || props.id || "—")}</div>` +
      (code && info.kind !== "camera" ? `<div class="zz-tip-code">${esc(code)}</div>` : "") +
      extra
    );
  }

  function popupHtml(info, props) {
    const rows = [];
    const row = (k, v) => {
      if (v !== undefined && v !== null && v !== "") rows.push(`<tr><th>${esc(k)}</th><td>${esc(v)}</td></tr>`);
    };
    if (info.kind === "camera") {
      const st = CAMERA_STATUS[String(props.status || "unknown").toLowerCase()];
      row("编号 ID", props.id);
      row("状态 Status", st ? `${st.label} ${props.status}` : props.status);
      row("朝向 Heading", props.heading_deg != null ? `${Number(props.heading_deg).toFixed(1)}°` : null);
      row("视场角 HFOV", props.hfov_deg != null ? `${Number(props.hfov_deg).toFixed(0)}°` : null);
      row("视距 Range", props.range_m != null ? `${fmtInt(Number(props.range_m))} m` : null);
      row("网格 Grid", props.grid || props.code);
    } else if (info.kind === "shelter") {
      row("编号 ID", props.id);
      row("容纳 Capacity", props.capacity != null ? `${fmtInt(Number(props.capacity))} 人` : null);
      row("网格 Grid", props.code);
    } else {
      row("编码 Code", props.code);
      row("编号 ID", props.id);
    }
    return (
      `<div class="zz-pop-kind">${esc(KIND_LABEL[info.kind] || info.title || info.name)}</div>` +
      `<div class="zz-pop-name">${esc(props.name || props.id || "—")}</div>` +
      `<table class="zz-pop-table">${rows.join("")}</table>`
    );
  }

  // code -> {name, level, layer}: names for the side panel, outlines for highlighting.
  const units = new Map();
  const camerasById = new Map();

  function unitName(code) {
    const u = code && units.get(code);
    return u ? u.name : "";
  }

  function buildLayer(map, info, fc) {
    const base = baseStyle(info);
    const family = geometryFamily(info);
    const pane = KIND_PANE[info.kind] || (family === "point" ? "zz-points" : family === "line" ? "zz-lines" : "zz-zones");
    const cls = `zz-f zz-f-${info.name}`;
    const classOf = (props) =>
      info.kind === "road" && props.road_class ? `${cls} zz-road-${String(props.road_class).replace(/[^\w-]/g, "")}` : cls;
    const layer = L.geoJSON(fc, {
      pane,
      style: (f) => Object.assign(featureStyle(info, base, f.properties || {}), { className: classOf(f.properties || {}) }),
      pointToLayer: (f, latlng) =>
        L.circleMarker(
          latlng,
          Object.assign(pointStyle(info, base, f.properties || {}), {
            pane,
            className: cls,
            bubblingMouseEvents: false, // a click on a camera opens it, and does not locate
          }),
        ),
      onEachFeature: (f, lyr) => {
        const props = f.properties || {};
        const isPoint = f.geometry && /Point/.test(f.geometry.type);
        lyr.bindTooltip(() => tooltipHtml(info, props), {
          sticky: !isPoint,
          direction: "top",
          offset: isPoint ? [0, -8] : [0, -12],
          className: "zz-tip",
          opacity: 1,
        });
        if (isPoint) lyr.bindPopup(() => popupHtml(info, props), { className: "zz-pop", maxWidth: 360 });
        if (["town", "village", "grid"].includes(info.kind) && props.code) {
          units.set(props.code, { name: props.name, level: info.kind, layer: lyr });
        }
        if (info.kind === "camera" && props.id) camerasById.set(String(props.id), lyr);
        if (!isPoint && info.kind !== "town" && info.kind !== "village") {
          lyr.on("mouseover", () => {
            lyr.setStyle({ weight: (lyr.options.weight || 1) + 1.5, opacity: 1 });
          });
          lyr.on("mouseout", () => layer.resetStyle(lyr));
        }
      },
    });
    layer.addTo(map);
    return layer;
  }

  function buildLabels(map, name, layer, cls) {
    const group = L.layerGroup();
    layer.eachLayer((lyr) => {
      const props = (lyr.feature && lyr.feature.properties) || {};
      if (!props.name || typeof lyr.getCenter !== "function") return;
      let at;
      try {
        at = lyr.getCenter();
      } catch (_) {
        return;
      }
      L.marker(at, {
        pane: "zz-labels",
        interactive: false,
        keyboard: false,
        icon: L.divIcon({ className: `zz-label ${cls}`, html: `<span>${esc(props.name)}</span>`, iconSize: null }),
      }).addTo(group);
    });
    group.addTo(map);
    zhizhi.labels[name] = group;
    return group;
  }

  async function loadLayer(map, info) {
    const fc = await api(`/api/layers/${encodeURIComponent(info.name)}/features`);
    if (!fc || !Array.isArray(fc.features)) {
      throw new ApiError(`/api/layers/${info.name}/features`, 200, "不是 GeoJSON FeatureCollection");
    }
    const layer = buildLayer(map, info, fc);
    zhizhi.layers[info.name] = layer;
    if (info.kind === "town") buildLabels(map, info.name, layer, "zz-label-town");
    if (info.kind === "village") buildLabels(map, info.name, layer, "zz-label-village");
    return { info, layer, count: fc.features.length };
  }

  async function loadFov(map, cameraInfo) {
    const fc = await api("/api/cameras/fov");
    const base = cameraInfo ? baseStyle(cameraInfo) : KIND_STYLE.camera;
    const layer = L.geoJSON(fc, {
      pane: "zz-fov",
      style: (f) => {
        const st = CAMERA_STATUS[String((f.properties || {}).status || "unknown").toLowerCase()];
        const c = (st && st.color) || base.color;
        return { color: c, weight: 1, opacity: 0.6, fillColor: c, fillOpacity: 0.18, className: "zz-fov" };
      },
      onEachFeature: (f, lyr) => {
        const p = f.properties || {};
        lyr.bindTooltip(
          `<div class="zz-tip-kind">摄像头视域 Camera FOV</div><div class="zz-tip-name">${esc(p.name || p.id)}</div>` +
            `<div class="zz-tip-extra">${esc(p.id || "")}</div>`,
          { sticky: true, direction: "top", offset: [0, -12], className: "zz-tip", opacity: 1 },
        );
      },
    });
    layer.addTo(map);
    zhizhi.fov = layer;
    return layer;
  }

  function swatchHtml(info, base) {
    const fam = geometryFamily(info);
    if (info.kind === "fov") {
      return `<i class="zz-swatch zz-swatch-fov" style="--c:${esc(base.color)}"></i>`;
    }
    if (fam === "point") {
      return `<i class="zz-swatch zz-swatch-point" style="--c:${esc(base.color)}"></i>`;
    }
    if (fam === "line") {
      return `<i class="zz-swatch zz-swatch-line" style="--c:${esc(base.color)}"></i>`;
    }
    const fill = base.fill === false ? "transparent" : base.fillColor || base.color;
    return `<i class="zz-swatch zz-swatch-area" style="--c:${esc(base.color)};--f:${esc(fill)}"></i>`;
  }

  function controlLabel(title, count, swatch) {
    return (
      `<span class="zz-lc">${swatch}<span class="zz-lc-title">${esc(title)}</span>` +
      `<span class="zz-lc-count">${esc(fmtInt(count))}</span></span>`
    );
  }

  function addLayerControl(map, loaded, fovLayer, cameraInfo) {
    const control = L.control.layers(null, null, { collapsed: false, position: "topright", sortLayers: false });
    const rank = (info) => {
      const i = KIND_ORDER.indexOf(info.kind);
      return i < 0 ? KIND_ORDER.length : i;
    };
    loaded.sort((a, b) => rank(a.info) - rank(b.info));
    for (const { info, layer, count } of loaded) {
      if (info.kind === "camera" && fovLayer) {
        const base = baseStyle(cameraInfo || info);
        control.addOverlay(
          fovLayer,
          controlLabel("摄像头视域 Camera FOV", fovLayer.getLayers().length, swatchHtml({ kind: "fov" }, base)),
        );
      }
      control.addOverlay(layer, controlLabel(info.title || info.name, count, swatchHtml(info, baseStyle(info))));
    }
    if (fovLayer && !loaded.some((l) => l.info.kind === "camera")) {
      control.addOverlay(
        fovLayer,
        controlLabel("摄像头视域 Camera FOV", fovLayer.getLayers().length, swatchHtml({ kind: "fov" }, KIND_STYLE.camera)),
      );
    }
    control.addTo(map);
    const container = control.getContainer();
    container.classList.add("zz-layers");
    const head = L.DomUtil.create("div", "zz-layers-head");
    head.textContent = "图层 Layers";
    container.querySelector(".leaflet-control-layers-list").prepend(head);

    // Name labels follow their layer on and off.
    const labelOwner = new Map();
    for (const [name, group] of Object.entries(zhizhi.labels)) labelOwner.set(zhizhi.layers[name], group);
    map.on("overlayadd", (e) => labelOwner.has(e.layer) && labelOwner.get(e.layer).addTo(map));
    map.on("overlayremove", (e) => labelOwner.has(e.layer) && map.removeLayer(labelOwner.get(e.layer)));
    return control;
  }

  function buildLegend() {
    const items = [];
    const line = (color, label, extra = "") =>
      items.push(`<li><i class="zz-swatch zz-swatch-line ${extra}" style="--c:${color}"></i>${esc(label)}</li>`);
    const area = (color, label, dashed = false) =>
      items.push(
        `<li><i class="zz-swatch zz-swatch-area${dashed ? " zz-dashed" : ""}" style="--c:${color};--f:${color}"></i>${esc(label)}</li>`,
      );
    for (const z of Object.values(ZONE_COLORS)) area(z.color, z.label, Boolean(z.dashArray));
    line(ROAD_CLASSES.expressway.color, ROAD_CLASSES.expressway.label, "zz-thick");
    line(KIND_STYLE.road.color, "干道 / 乡道 Roads");
    items.push(
      `<li><i class="zz-swatch zz-swatch-fov" style="--c:${KIND_STYLE.camera.color}"></i>摄像头及视域 Camera &amp; FOV</li>`,
    );
    items.push(
      `<li><i class="zz-swatch zz-swatch-point zz-ring" style="--c:${KIND_STYLE.shelter.color}"></i>避难场所 Shelter</li>`,
    );
    $("#zz-legend").innerHTML = items.join("");
  }

  // ---------------------------------------------------------------------------------------
  // Click: which grid, which cameras see this point.

  let pickGroup = null;
  let inspectSeq = 0;

  function setField(name, text) {
    const el = document.querySelector(`[data-field="${name}"]`);
    if (el) el.textContent = text || "—";
  }

  function outlineOf(code, pane, style) {
    const u = units.get(code);
    if (!u || !u.layer.feature) return null;
    return L.geoJSON(u.layer.feature.geometry, { pane, interactive: false, style: () => style });
  }

  /** Show what lies at (lon, lat) in the side panel; also what a click on the map does. */
  async function inspect(lon, lat) {
    const map = zhizhi.map;
    const seq = ++inspectSeq;
    const card = $("#zz-location");
    const camCard = $("#zz-cameras");
    card.dataset.state = "loading";
    camCard.dataset.state = "loading";
    $("#zz-location-hint").hidden = true;
    $("#zz-location-body").hidden = false;
    $("#zz-coords").textContent = `${lon.toFixed(6)}, ${lat.toFixed(6)}`;

    if (!pickGroup) pickGroup = L.layerGroup().addTo(map);
    pickGroup.clearLayers();
    L.marker([lat, lon], {
      pane: "zz-highlight",
      interactive: false,
      keyboard: false,
      icon: L.divIcon({ className: "zz-pick-marker", html: "<span></span>", iconSize: [28, 28] }),
    }).addTo(pickGroup);

    const q = `lon=${lon.toFixed(7)}&lat=${lat.toFixed(7)}`;
    let location;
    let cameras;
    try {
      [location, cameras] = await Promise.all([
        api(`/api/grids/locate?${q}`, { allow404: true }),
        api(`/api/cameras/covering?${q}`),
      ]);
    } catch (err) {
      if (seq === inspectSeq) {
        card.dataset.state = "error";
        camCard.dataset.state = "error";
        reportError("点位查询失败 Location lookup failed", err);
      }
      throw err;
    }
    if (seq !== inspectSeq) return zhizhi.located; // a newer click superseded this one

    const outside = Boolean(location && location.notFound);
    $("#zz-outside").hidden = !outside;
    $("#zz-units").hidden = outside;
    if (!outside) {
      for (const level of ["grid", "village", "town", "district"]) {
        const code = location[level];
        const name =
          level === "district" && zhizhi.config && zhizhi.config.district.code === code
            ? zhizhi.config.district.name
            : unitName(code);
        setField(`${level}-code`, code);
        setField(`${level}-name`, name);
      }
      const outline = outlineOf(location.grid, "zz-pick", {
        color: "#ffffff",
        weight: 3,
        opacity: 0.95,
        fillColor: "#4fc3f7",
        fillOpacity: 0.09,
        className: "zz-pick-grid",
      });
      if (outline) outline.addTo(pickGroup);
    }
    renderCameras(cameras, lon, lat);
    card.dataset.state = outside ? "outside" : "done";
    card.dataset.grid = outside ? "" : location.grid;
    camCard.dataset.state = "done";
    zhizhi.located = { lon, lat, location: outside ? null : location, cameras };
    return zhizhi.located;
  }

  function renderCameras(cameras, lon, lat) {
    const list = $("#zz-camera-list");
    list.innerHTML = "";
    $("#zz-camera-count").textContent = String(cameras.length);
    const empty = $("#zz-camera-empty");
    empty.hidden = cameras.length > 0;
    if (!cameras.length) {
      empty.innerHTML = "没有摄像头的视域覆盖该点 <span>No camera sees this point</span>";
    }
    cameras.forEach((cam, i) => {
      const statusKey = String(cam.status || "unknown").toLowerCase();
      const st = CAMERA_STATUS[statusKey] || CAMERA_STATUS.unknown;
      const li = document.createElement("li");
      li.className = "zz-cam";
      li.dataset.cameraId = cam.id;
      li.tabIndex = 0;
      li.innerHTML =
        `<span class="zz-cam-rank">${i + 1}</span>` +
        `<div class="zz-cam-main"><div class="zz-cam-name">${esc(cam.name || cam.id)}</div>` +
        `<div class="zz-cam-meta"><code class="zz-cam-id">${esc(cam.id)}</code>` +
        `<span>${esc(fmtInt(Number(cam.distance_m)))} m</span>` +
        `<span>方位 ${esc(Number(cam.bearing_deg).toFixed(0))}°</span></div></div>` +
        `<span class="zz-cam-status zz-st-${esc(statusKey)}">${esc(st.label)}</span>`;
      li.addEventListener("click", () => focusCamera(cam));
      li.addEventListener("keydown", (e) => e.key === "Enter" && focusCamera(cam));
      list.appendChild(li);

      // A sight line from the camera to the point.
      const at = cameraLatLng(cam);
      if (at && pickGroup) {
        L.polyline([at, [lat, lon]], {
          pane: "zz-pick",
          interactive: false,
          color: "#69f0ae",
          weight: 2,
          opacity: 0.9,
          dashArray: "5 6",
          className: "zz-sightline",
        }).addTo(pickGroup);
      }
    });
  }

  function cameraLatLng(cam) {
    if (Number.isFinite(cam.lat) && Number.isFinite(cam.lon)) return L.latLng(cam.lat, cam.lon);
    const lyr = camerasById.get(String(cam.id));
    return lyr ? lyr.getLatLng() : null;
  }

  function focusCamera(cam) {
    const at = cameraLatLng(cam);
    if (!at) return;
    zhizhi.map.flyTo(at, Math.max(zhizhi.map.getZoom(), 17), { duration: 0.6 });
    const lyr = camerasById.get(String(cam.id));
    if (lyr) whenMoved(zhizhi.map).then(() => lyr.openPopup());
  }

  // ---------------------------------------------------------------------------------------
  // Search: a grid code or a name -> fly there and outline the unit.

  let searchSeq = 0;
  let searchHits = [];
  let activeHit = -1;

  async function search(q) {
    q = String(q || "").trim();
    const seq = ++searchSeq;
    if (!q) {
      showHits([]);
      return [];
    }
    let hits;
    try {
      hits = await api(`/api/search?q=${encodeURIComponent(q)}`);
    } catch (err) {
      reportError("搜索失败 Search failed", err);
      throw err;
    }
    if (seq !== searchSeq) return hits;
    showHits(hits, q);
    return hits;
  }

  function showHits(hits, q) {
    searchHits = Array.isArray(hits) ? hits : [];
    activeHit = searchHits.length ? 0 : -1;
    const ul = $("#zz-search-results");
    ul.innerHTML = "";
    if (q === undefined) {
      ul.hidden = true;
      return;
    }
    if (!searchHits.length) {
      ul.innerHTML = `<li class="zz-hit-none">未找到 “${esc(q)}” · No match</li>`;
      ul.hidden = false;
      return;
    }
    searchHits.forEach((hit, i) => {
      const li = document.createElement("li");
      li.className = "zz-hit" + (i === activeHit ? " zz-active" : "");
      li.setAttribute("role", "option");
      li.dataset.code = hit.code;
      li.innerHTML =
        `<span class="zz-hit-level zz-level-${esc(hit.level)}">${esc(LEVEL_LABEL[hit.level] || hit.level)}</span>` +
        `<span class="zz-hit-name">${esc(hit.name)}</span><code class="zz-hit-code">${esc(hit.code)}</code>`;
      li.addEventListener("mousedown", (e) => {
        e.preventDefault(); // keep focus in the box until the selection is made
        select(hit);
      });
      ul.appendChild(li);
    });
    ul.hidden = false;
  }

  function markActive() {
    document.querySelectorAll("#zz-search-results .zz-hit").forEach((li, i) => {
      li.classList.toggle("zz-active", i === activeHit);
      if (i === activeHit) li.scrollIntoView({ block: "nearest" });
    });
  }

  /** Fly to a search hit ({code, name, level, bounds}) and outline it. */
  async function select(hit) {
    const map = zhizhi.map;
    $("#zz-search-results").hidden = true;
    $("#zz-search-input").value = hit.name;
    zhizhi.selected = hit;

    if (zhizhi.highlight) map.removeLayer(zhizhi.highlight);
    const style = {
      color: "#ffd740",
      weight: 4,
      opacity: 1,
      fillColor: "#ffd740",
      fillOpacity: 0.08,
      className: "zz-highlight",
    };
    let outline = outlineOf(hit.code, "zz-highlight", style);
    const bounds = boundsOf(hit.bounds) || (outline && outline.getBounds());
    if (!outline && bounds) {
      outline = L.rectangle(bounds, Object.assign({ pane: "zz-highlight", interactive: false, dashArray: "8 6" }, style));
    }
    if (outline) {
      outline.addTo(map);
      zhizhi.highlight = outline;
    }
    const sel = $("#zz-search-selected");
    sel.hidden = false;
    sel.dataset.code = hit.code;
    sel.innerHTML =
      `<span class="zz-hit-level zz-level-${esc(hit.level)}">${esc(LEVEL_LABEL[hit.level] || hit.level)}</span>` +
      `<span class="zz-hit-name">${esc(hit.name)}</span><code class="zz-hit-code">${esc(hit.code)}</code>`;
    if (bounds && bounds.isValid()) {
      const moved = whenMoved(map);
      map.flyToBounds(bounds, Object.assign(viewPadding(60), { maxZoom: 17, duration: 0.8 }));
      await moved;
    }
    return hit;
  }

  /** Forget the search: its outline, the chip under the box and the box's text. */
  function clearSelection() {
    if (zhizhi.highlight) zhizhi.map.removeLayer(zhizhi.highlight);
    zhizhi.highlight = null;
    zhizhi.selected = null;
    const input = $("#zz-search-input");
    input.value = "";
    input.blur();
    showHits([]);
    const sel = $("#zz-search-selected");
    sel.hidden = true;
    delete sel.dataset.code;
  }

  function wireSearch() {
    const input = $("#zz-search-input");
    let timer = null;
    input.addEventListener("input", () => {
      clearTimeout(timer);
      timer = setTimeout(() => search(input.value).catch(() => {}), 220);
    });
    input.addEventListener("keydown", async (e) => {
      if (e.key === "ArrowDown" || e.key === "ArrowUp") {
        if (!searchHits.length) return;
        e.preventDefault();
        activeHit = (activeHit + (e.key === "ArrowDown" ? 1 : -1) + searchHits.length) % searchHits.length;
        markActive();
      } else if (e.key === "Enter") {
        e.preventDefault();
        clearTimeout(timer);
        let hits = searchHits;
        const shown = !$("#zz-search-results").hidden;
        if (!shown || !hits.length) {
          try {
            hits = await search(input.value);
          } catch (_) {
            return;
          }
        }
        if (hits && hits.length) select(hits[Math.max(activeHit, 0)] || hits[0]);
      } else if (e.key === "Escape") {
        clearSelection();
      }
    });
    input.addEventListener("blur", () => setTimeout(() => ($("#zz-search-results").hidden = true), 150));
    input.addEventListener("focus", () => {
      if (searchHits.length) $("#zz-search-results").hidden = false;
    });
  }

  // ---------------------------------------------------------------------------------------
  // Start-up.

  function finish(ok, error) {
    setLoading(null);
    if (ok) {
      document.body.dataset.ready = "true";
      setStatus("ok", "在线 Live");
      resolveReady(zhizhi);
    } else {
      document.body.dataset.ready = "error";
      setStatus("error", "数据异常 Error");
      if (!zhizhi.config) $("#zz-district-name").textContent = "地图不可用 Map unavailable";
      rejectReady(error || new Error("the map could not be drawn completely"));
    }
  }

  async function start() {
    if (!sessionToken()) {
      toLogin();
      return;
    }
    showUser();
    startClock();
    buildLegend();
    wireSearch();
    if (leafletMissing()) {
      finish(false, new Error("Leaflet assets missing"));
      return;
    }
    const map = createMap();

    let config;
    let layerList;
    try {
      [config, layerList] = await Promise.all([api("/api/config"), api("/api/layers")]);
    } catch (err) {
      reportError("无法加载辖区配置或图层列表 Could not load the configuration or the layer list", err);
      finish(false, err);
      return;
    }
    applyConfig(map, config);
    if (!Array.isArray(layerList)) {
      const err = new ApiError("/api/layers", 200, "不是图层列表 not a list of layers");
      reportError("图层列表无效 Invalid layer list", err);
      finish(false, err);
      return;
    }
    for (const info of layerList) zhizhi.layerInfo[info.name] = info;

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
        track(loadLayer(map, info)).catch((err) => {
          reportError(`图层加载失败 Layer “${info.title || info.name}” failed to load`, err);
          throw err;
        }),
      ),
      track(loadFov(map, cameraInfo)).catch((err) => {
        reportError("摄像头视域加载失败 Camera fields of view failed to load", err);
        throw err;
      }),
    ]);
    const loaded = settled.slice(0, layerList.length).filter((r) => r.status === "fulfilled").map((r) => r.value);
    addLayerControl(map, loaded, zhizhi.fov, cameraInfo);
    fitDistrict();
    const features = loaded.reduce((n, l) => n + l.count, 0);
    $("#zz-readout-features").textContent = fmtInt(features);

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
})();
