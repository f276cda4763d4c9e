/* zhizhi 智治 — a click on the map: which grid, village, town and district the point lies in
 * (GET /api/grids/locate) and which cameras see it, nearest first (GET /api/cameras/covering),
 * shown in the side panel with the grid outlined and a sight line from each camera. */

import { $, esc } from "../lib/dom.js";
import { fmtInt } from "../lib/format.js";
import { api } from "../lib/session.js";
import { whenMoved } from "./base.js";
import { outlineOf, unitName } from "./layers.js";
import { reportError } from "./report.js";
import { CAMERA_STATUS } from "./style.js";

const GRID_OUTLINE = {
  color: "#ffffff",
  weight: 3,
  opacity: 0.95,
  fillColor: "#4fc3f7",
  fillOpacity: 0.09,
  className: "zz-pick-grid",
};

function setField(name, text) {
  const el = document.querySelector(`[data-field="${name}"]`);
  if (el) el.textContent = text || "—";
}

/** ``inspect(lon, lat)`` for ``view``: shows what lies there; also what a click on the map does.
 *  Resolves to ``view.located`` ({lon, lat, location, cameras}). */
export function createLocator(view) {
  let pickGroup = null;
  let seqNo = 0;

  function cameraLatLng(cam) {
    if (Number.isFinite(cam.lat) && Number.isFinite(cam.lon)) return L.latLng(cam.lat, cam.lon);
    const lyr = view.camerasById.get(String(cam.id));
    return lyr ? lyr.getLatLng() : null;
  }

  function focusCamera(cam) {
    const at = cameraLatLng(cam);
    if (!at) return;
    view.map.flyTo(at, Math.max(view.map.getZoom(), 17), { duration: 0.6 });
    const lyr = view.camerasById.get(String(cam.id));
    if (lyr) whenMoved(view.map).then(() => lyr.openPopup());
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

  return async function inspect(lon, lat) {
    const seq = ++seqNo;
    const card = $("#zz-location");
    const camCard = $("#zz-cameras");
    card.dataset.state = "loading";
    camCard.dataset.state = "loading";
    $("#zz-location-hint").hidden = true;
    $("#zz-location-body").hidden = false;
    $("#zz-coords").textContent = `${lon.toFixed(6)}, ${lat.toFixed(6)}`;

    if (!pickGroup) pickGroup = L.layerGroup().addTo(view.map);
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
      if (seq === seqNo) {
        card.dataset.state = "error";
        camCard.dataset.state = "error";
        reportError("点位查询失败 Location lookup failed", err);
      }
      throw err;
    }
    if (seq !== seqNo) return view.located; // a newer click superseded this one

    const outside = Boolean(location && location.notFound);
    $("#zz-outside").hidden = !outside;
    $("#zz-units").hidden = outside;
    if (!outside) {
      const district = view.config && view.config.district;
      for (const level of ["grid", "village", "town", "district"]) {
        const code = location[level];
        const name = level === "district" && district && district.code === code ? district.name : unitName(view, code);
        setField(`${level}-code`, code);
        setField(`${level}-name`, name);
      }
      const outline = outlineOf(view, location.grid, "zz-pick", GRID_OUTLINE);
      if (outline) outline.addTo(pickGroup);
    }
    renderCameras(cameras, lon, lat);
    card.dataset.state = outside ? "outside" : "done";
    card.dataset.grid = outside ? "" : location.grid;
    camCard.dataset.state = "done";
    view.located = { lon, lat, location: outside ? null : location, cameras };
    return view.located;
  };
}
