/* zhizhi 智治 — the wall's remembered video tiles, and putting a camera on one.
 *
 * The layout (1, 4, 9 or 16 tiles) and the camera of each tile are kept per wall on the console
 * (GET/PUT /api/walls/{wall}/tiles, console/api/tours.py): every video screen of the wall shows
 * them, a reload restores them, and each change reaches every screen as a "tiles" wall message.
 *
 * A camera goes onto a tile by HTML5 drag and drop — the payload is
 * application/x-zhizhi-camera ({"id", "name"} as JSON), so it works between two windows of the
 * same browser (the map on one screen, the video on another) — or, where the map and the video
 * are separate PCs, by the "投到画面 N" buttons of the camera's popup on the map:
 * PUT /api/walls/{wall}/tiles/{n}, which the console sends on to the wall's video screens.
 *
 * Named layouts (a wall's custom slot): /wall?screen=video&wall=W&layout=NAME (NAME not 1, 4, 9
 * or 16) shows and edits the wall's layout NAME (?name=NAME on the same routes) instead of its
 * main one; its "tiles" messages carry the name, and a screen applies only those of its layout.
 */

import { api } from "../lib/session.js";

export const CAMERA_MIME = "application/x-zhizhi-camera";
export const LAYOUTS = [1, 4, 9, 16];

const tilesUrl = (wall, n = null, name = null) =>
  `/api/walls/${encodeURIComponent(wall)}/tiles${n == null ? "" : "/" + n}` +
  (name == null ? "" : `?name=${encodeURIComponent(name)}`);

/**
 * The named layout this screen shows (?layout=NAME, NAME not a tile count), or null: the wall's
 * main layout. ``search``: a URL's query (this page's by default).
 */
export function layoutName(search = location.search) {
  const asked = (new URLSearchParams(search).get("layout") || "").trim();
  return asked && !/^\d+$/.test(asked) ? asked : null;
}

/** Whether a "tiles" message (or an answer) is of the layout ``name`` (null: the main one). */
export const sameLayout = (msg, name) => ((msg && msg.name) || null) === (name || null);

/** The wall's remembered tiles: {layout, tiles: [id|null], names: {id: name}, updated_ts, name}. */
export const loadTiles = (wall, name = null) => api(tilesUrl(wall, null, name));

/** Remember the wall's layout and tiles (every video screen of the wall showing it follows). */
export const saveTiles = (wall, layout, tiles, name = null) =>
  api(tilesUrl(wall, null, name), { method: "PUT", body: { layout, tiles: tiles.slice(0, layout) } });

/** Put camera ``id`` on tile ``n`` (from 1) of the wall's layout (``name``: a named one). */
export const putTile = (wall, n, id, name = null) =>
  api(tilesUrl(wall, n, name), { method: "PUT", body: { camera_id: id } });

/** The camera a drag carries, or null (another kind of drag: a file, a text). */
export function draggedCamera(dataTransfer) {
  if (!dataTransfer || ![...(dataTransfer.types || [])].includes(CAMERA_MIME)) return null;
  try {
    const cam = JSON.parse(dataTransfer.getData(CAMERA_MIME) || "null");
    return cam && cam.id ? { id: String(cam.id), name: String(cam.name || cam.id) } : null;
  } catch (_) {
    return null;
  }
}

/** Make ``el`` a drag source of camera {id, name} (its payload also as plain text: the name). */
export function cameraDragSource(el, cam) {
  el.draggable = true;
  el.dataset.dragCamera = cam.id;
  el.addEventListener("dragstart", (e) => {
    e.dataTransfer.setData(CAMERA_MIME, JSON.stringify({ id: cam.id, name: cam.name || cam.id }));
    e.dataTransfer.setData("text/plain", `${cam.name || cam.id} (${cam.id})`);
    e.dataTransfer.effectAllowed = "copyMove";
    document.body.classList.add("zw-dragging-camera");
  });
  el.addEventListener("dragend", () => document.body.classList.remove("zw-dragging-camera"));
}

/**
 * ``tile`` (an element) takes dropped cameras: ``onCamera(cam)`` with {id, name}. While a camera
 * is dragged over it the tile is marked (.zw-drop-over).
 */
export function dropTarget(tile, onCamera) {
  tile.addEventListener("dragover", (e) => {
    if (![...(e.dataTransfer.types || [])].includes(CAMERA_MIME)) return;
    e.preventDefault(); // a drop is welcome
    e.dataTransfer.dropEffect = "copy";
    tile.classList.add("zw-drop-over");
  });
  tile.addEventListener("dragleave", () => tile.classList.remove("zw-drop-over"));
  tile.addEventListener("drop", (e) => {
    tile.classList.remove("zw-drop-over");
    const cam = draggedCamera(e.dataTransfer);
    if (!cam) return;
    e.preventDefault();
    onCamera(cam);
  });
}

// ------------------------------------------------------------------------- the map's side

/** A camera popup's controls: the drag handle and the buttons "投到画面 1..layout". */
function castControls(wall, id, name, layout) {
  const cast = document.createElement("div");
  cast.className = "zw-cast";
  cast.dataset.camera = id;
  cast.innerHTML =
    `<div class="zw-cast-drag" title="拖到视频画面上 drag onto a video tile">⠿ 拖到视频画面</div>` +
    `<div class="zw-cast-label">投到画面</div>` +
    `<div class="zw-cast-buttons" style="--cols:${Math.sqrt(layout)}">` +
    Array.from({ length: layout }, (_, i) => `<button type="button" data-tile="${i + 1}">${i + 1}</button>`).join("") +
    `</div><div class="zw-cast-note" role="status"></div>`;
  cameraDragSource(cast.querySelector(".zw-cast-drag"), { id, name });
  const note = cast.querySelector(".zw-cast-note");
  for (const b of cast.querySelectorAll("button")) {
    b.addEventListener("click", () => {
      note.textContent = "…";
      putTile(wall, Number(b.dataset.tile), id).then(
        () => {
          note.textContent = `已投到画面 ${b.dataset.tile}`;
          cast.dataset.sent = b.dataset.tile;
        },
        (err) => (note.textContent = `未能投放：${err.detail || err.message}`),
      );
    });
  }
  return cast;
}

/**
 * The map screen's hook: each camera marker's popup gets a handle to drag the camera onto a
 * video tile and the buttons "投到画面 1..N" (N: the wall's layout), and the selected alert's
 * camera list (#zw-selected-body li[data-camera]) is draggable too. ``view``: the map's view
 * (camerasById); ``wall``: this screen's wall.
 */
export function mountMapCameraTiles(view, wall) {
  let layout = 4;
  const refresh = () =>
    loadTiles(wall).then(
      (t) => (layout = LAYOUTS.includes(t.layout) ? t.layout : 4),
      (err) => console.warn("tiles:", err),
    );
  refresh();
  for (const [id, marker] of view.camerasById) {
    marker.on("popupopen", (e) => {
      const popup = e.popup;
      const box = popup.getElement() && popup.getElement().querySelector(".leaflet-popup-content");
      if (!box || box.querySelector(".zw-cast")) return;
      const props = (marker.feature && marker.feature.properties) || {};
      const content = document.createElement("div");
      content.append(...box.childNodes, castControls(wall, id, props.name || id, layout));
      const original = popup.getContent(); // the map's own content (a function: fresh at each open)
      popup.setContent(content); // re-laid out with the buttons
      marker.once("popupclose", () => popup.setContent(original));
      refresh();
    });
  }
  // The selected alert's cameras (map-screen.js renders them): each one a drag source.
  const selected = document.getElementById("zw-selected-body");
  if (selected) {
    new MutationObserver(() => {
      for (const li of selected.querySelectorAll("li[data-camera]:not([draggable])")) {
        const label = li.querySelector("span") || li;
        cameraDragSource(li, { id: li.dataset.camera, name: label.textContent.trim() });
      }
    }).observe(selected, { childList: true, subtree: true });
  }
}

/** The tile caption's title: everything the tile may not have room to show. */
export const tileTitle = (name, id, state) => [name, id, state].filter(Boolean).join(" · ");
