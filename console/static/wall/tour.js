/* zhizhi 智治 — camera tours (视频巡航) on the wall's video screen.
 *
 * A tour (GET /api/tours: a name and its stops, each a camera and a dwell in seconds) runs on
 * one tile of this screen: the tile shows each stop's camera for its dwell, in order, round and
 * round, until stopped; the toolbar says "巡航中 n/N". At each stop the screen reports it (POST
 * /api/tours/{id}/log), and the console writes the patrol log entry with the camera's own frame
 * as the snapshot, for the shift report. The remembered tiles of the wall are left as they are:
 * stopping the tour gives the tile back to its camera.
 *
 * "编辑巡航" (tour-editor.js; only for users with alerts.act) makes, changes and deletes tours on
 * the screen; a running tour follows its changes (deleted: it stops). "巡查记录" (patrol-log.js)
 * lists the shift's stops with their snapshots and exports them as CSV.
 *
 * mountTours({wall, holder, layout, show, cameraName}) adds the controls to ``holder``;
 * ``show(tileIndex, cameraId|null)`` puts a camera on a tile (null: the tile's own again).
 * Returns the runner: {tours, running, start(id, tile), stop(), history}.
 */

import { esc } from "../lib/dom.js";
import { api } from "../lib/session.js";
import { openPatrolLog } from "./patrol-log.js";
import { openTourEditor } from "./tour-editor.js";

export function mountTours({ wall, holder, layout, show, cameraName = (id) => id }) {
  const box = document.createElement("div");
  box.className = "zw-tour";
  box.innerHTML =
    `<label class="zw-tour-pick"><span class="zz-label">视频巡航</span>` +
    `<select id="zw-tour-select" aria-label="选择巡航路线"><option value="">选择巡航…</option></select></label>` +
    `<label class="zw-tour-pick"><span class="zz-label">画面</span>` +
    `<select id="zw-tour-tile" aria-label="巡航画面"></select></label>` +
    `<button type="button" id="zw-tour-toggle" class="zw-tour-toggle" disabled>开始巡航</button>` +
    `<button type="button" id="zw-tour-edit" class="zw-tour-toggle" hidden>编辑巡航</button>` +
    `<button type="button" id="zw-tour-log" class="zw-tour-toggle">巡查记录</button>` +
    `<span class="zw-tour-status" id="zw-tour-status" role="status" hidden></span>`;
  holder.appendChild(box);
  const pick = box.querySelector("#zw-tour-select");
  const tilePick = box.querySelector("#zw-tour-tile");
  const toggle = box.querySelector("#zw-tour-toggle");
  const status = box.querySelector("#zw-tour-status");

  const runner = { tours: [], running: null, history: [], logged: [], errors: [] };
  let timer = null;
  let generation = 0;

  const fillTiles = () => {
    const n = layout();
    const kept = Number(tilePick.value) || 1;
    tilePick.innerHTML = Array.from({ length: n }, (_, i) => `<option value="${i + 1}">${i + 1}</option>`).join("");
    tilePick.value = String(Math.min(kept, n));
  };

  runner.load = async () => {
    runner.tours = await api("/api/tours");
    const chosen = pick.value;
    pick.innerHTML =
      `<option value="">选择巡航…</option>` +
      runner.tours
        .map((t) => `<option value="${t.id}">${esc(t.name)}（${t.stops.length} 个点位）</option>`)
        .join("");
    if (runner.tours.some((t) => String(t.id) === chosen)) pick.value = chosen;
    toggle.disabled = !pick.value && !runner.running;
    fillTiles();
    return runner.tours;
  };

  const render = () => {
    const r = runner.running;
    box.classList.toggle("zw-touring", Boolean(r));
    document.body.classList.toggle("zw-touring", Boolean(r));
    toggle.textContent = r ? "停止巡航" : "开始巡航";
    toggle.disabled = !r && !pick.value;
    status.hidden = !r;
    if (!r) return;
    const stop = r.tour.stops[r.index];
    status.textContent = `巡航中 ${r.index + 1}/${r.tour.stops.length} · ${cameraName(stop.camera_id) || stop.name || stop.camera_id}`;
    status.title = `${r.tour.name} · 画面 ${r.tile + 1} · 停留 ${stop.dwell_s} 秒`;
    document.body.dataset.tour = String(r.tour.id);
    document.body.dataset.tourStop = `${r.index + 1}/${r.tour.stops.length}`;
  };

  const visit = (g) => {
    const r = runner.running;
    if (!r || g !== generation) return;
    const stop = r.tour.stops[r.index];
    show(r.tile, stop.camera_id);
    runner.history.push(stop.camera_id);
    render();
    api(`/api/tours/${r.tour.id}/log`, { method: "POST", body: { camera_id: stop.camera_id, wall } }).then(
      (entry) => runner.logged.push(entry),
      (err) => {
        runner.errors.push(String(err.detail || err.message));
        console.warn("tour log:", err);
      },
    );
    timer = setTimeout(() => {
      if (g !== generation || !runner.running) return;
      r.index = (r.index + 1) % r.tour.stops.length;
      visit(g);
    }, 1000 * stop.dwell_s);
  };

  runner.start = async (tourId, tile = 1) => {
    runner.stop();
    const tour = await api(`/api/tours/${encodeURIComponent(tourId)}`);
    const index = Math.max(0, Math.min(layout(), Number(tile) || 1) - 1);
    generation += 1;
    runner.running = { tour, index: 0, tile: index, startedAt: Date.now() };
    runner.history = [];
    visit(generation);
  };

  runner.stop = () => {
    generation += 1;
    clearTimeout(timer);
    timer = null;
    const r = runner.running;
    runner.running = null;
    delete document.body.dataset.tour;
    delete document.body.dataset.tourStop;
    if (r) show(r.tile, null);
    render();
  };

  runner.layoutChanged = () => {
    fillTiles();
    if (runner.running && runner.running.tile >= layout()) runner.stop(); // its tile is gone
  };

  pick.addEventListener("change", render);
  toggle.addEventListener("click", () => {
    if (runner.running) runner.stop();
    else if (pick.value) runner.start(pick.value, tilePick.value).catch((err) => console.warn("tour:", err));
  });
  const edit = box.querySelector("#zw-tour-edit");
  api("/api/auth/me").then(
    (me) => {
      edit.hidden = !(me && Array.isArray(me.permissions) && me.permissions.includes("alerts.act"));
      box.dataset.mayEdit = String(!edit.hidden);
    },
    (err) => console.warn("me:", err),
  );
  /** After the editor saved (``id``) or deleted (null) a tour: the picker and a running tour follow. */
  const edited = async (id) => {
    await runner.load();
    const r = runner.running;
    if (!r) return;
    const fresh = runner.tours.find((t) => t.id === r.tour.id);
    if (!fresh) runner.stop(); // deleted
    else if (fresh.id === id) {
      r.tour = fresh;
      r.index = Math.min(r.index, fresh.stops.length - 1);
      render();
    }
  };
  edit.addEventListener("click", () =>
    openTourEditor({ onChange: (id) => edited(id).catch((err) => console.warn("tours:", err)), tourId: pick.value || null })
      .catch((err) => console.warn("tour editor:", err)),
  );
  box.querySelector("#zw-tour-log").addEventListener("click", () =>
    openPatrolLog({ tourId: (runner.running && runner.running.tour.id) || pick.value || null }).catch((err) =>
      console.warn("patrol log:", err),
    ),
  );
  runner.load().catch((err) => console.warn("tours:", err));
  render();
  return runner;
}
