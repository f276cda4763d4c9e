/* zhizhi 智治 — recorded video played back on the wall (the video screen, the alert board).
 *
 * One panel over the page: a camera's recording at any time within its retention, with a
 * timeline of 24 h or 1 h that shows the recorded spans (GET /api/cameras/{id}/recordings) and
 * marks the camera's alerts in it (a click on a mark plays from 30 s before that alert; a click
 * elsewhere plays from there). The segments are MP4 files played one after the other in one
 * <video>; each URL carries a short-lived ticket, never the login's token. "导出" downloads five
 * minutes around the playhead as one MP4 (…/recordings/export).
 *
 * Opened by:
 *   - an alert's "从告警前30秒回放" button (playbackButton: the board's detail, the video
 *     screen's evidence panel): the alert's first camera at its first sighting − 30 s;
 *   - the video screen's "录像回放" button (mountPlayback), any camera it knows, the last hour;
 *   - the video screen's URL: ?playback=CAMERA&at=EPOCH_SECONDS.
 * Every time is in the deployment's zone (lib/format.js). For tests: window.zhizhiPlayback.
 */

import { $, esc } from "../lib/dom.js";
import { fmtDateTime, zoned } from "../lib/format.js";
import { api, withTicket } from "../lib/session.js";

export const BEFORE_ALERT_S = 30;
const ZOOMS = { 86400: { zh: "24小时", en: "24 h", tick: 3 * 3600 }, 3600: { zh: "1小时", en: "1 h", tick: 600 } };
const EXPORT_BEFORE_S = 60;
const EXPORT_AFTER_S = 240;

const pb = {
  camera: null,
  cameraName: (id) => id,
  cameras: null, // Map id -> {name}, where the page offers a choice
  zoom: 3600,
  window: [0, 0],
  segments: [],
  alerts: [],
  segment: null,
  requested: null,
  loadSeq: 0,
  /** The recorded time now shown (epoch seconds), or null. */
  time() {
    const v = $("#zw-pb-video");
    return pb.segment && v ? pb.segment.start + v.currentTime : null;
  },
};
window.zhizhiPlayback = pb;

function panel() {
  let box = $("#zw-playback");
  if (box) return box;
  box = document.createElement("section");
  box.id = "zw-playback";
  box.className = "zw-playback";
  box.hidden = true;
  box.setAttribute("role", "dialog");
  box.setAttribute("aria-label", "录像回放 playback");
  box.innerHTML =
    `<div class="zw-pb-head">` +
    `<h2>录像回放 <small>Playback</small></h2>` +
    `<span class="zw-pb-camera" id="zw-pb-camera"></span>` +
    `<select id="zw-pb-cameras" aria-label="摄像头 camera" hidden></select>` +
    `<button type="button" class="zw-pb-close" id="zw-pb-close">返回实况 <small>Close</small></button>` +
    `</div>` +
    `<div class="zw-pb-stage">` +
    `<video id="zw-pb-video" muted playsinline preload="auto"></video>` +
    `<div class="zw-pb-clock" id="zw-pb-clock"></div>` +
    `<div class="zw-pb-none" id="zw-pb-none" hidden></div>` +
    `</div>` +
    `<div class="zw-pb-controls">` +
    `<button type="button" data-step="-30">后退30秒 <small>−30 s</small></button>` +
    `<button type="button" id="zw-pb-toggle">暂停 <small>Pause</small></button>` +
    `<button type="button" data-step="30">前进30秒 <small>+30 s</small></button>` +
    `<span class="zw-pb-zooms" role="group" aria-label="时间轴 timeline">` +
    Object.entries(ZOOMS)
      .map(([s, z]) => `<button type="button" data-zoom="${s}">${z.zh} <small>${z.en}</small></button>`)
      .join("") +
    `</span>` +
    `<button type="button" id="zw-pb-export">导出5分钟 <small>Export MP4</small></button>` +
    `</div>` +
    `<div class="zw-pb-timeline" id="zw-pb-timeline" title="点击跳转 click to play from there">` +
    `<div class="zw-pb-spans" id="zw-pb-spans"></div>` +
    `<div class="zw-pb-marks" id="zw-pb-marks"></div>` +
    `<div class="zw-pb-playhead" id="zw-pb-playhead" hidden></div>` +
    `</div>` +
    `<div class="zw-pb-axis" id="zw-pb-axis"></div>`;
  document.body.appendChild(box);
  const video = $("#zw-pb-video");
  video.addEventListener("timeupdate", showTime);
  video.addEventListener("ended", playNext);
  video.addEventListener("error", retry);
  video.addEventListener("playing", () => (box.dataset.state = "playing"));
  video.addEventListener("pause", () => ($("#zw-pb-toggle").innerHTML = "播放 <small>Play</small>"));
  video.addEventListener("play", () => ($("#zw-pb-toggle").innerHTML = "暂停 <small>Pause</small>"));
  $("#zw-pb-close").addEventListener("click", closePlayback);
  $("#zw-pb-toggle").addEventListener("click", () => (video.paused ? video.play() : video.pause()));
  for (const b of box.querySelectorAll("[data-step]")) {
    b.addEventListener("click", () => seek((pb.time() ?? pb.requested) + Number(b.dataset.step)));
  }
  for (const b of box.querySelectorAll("[data-zoom]")) {
    b.addEventListener("click", () => {
      pb.zoom = Number(b.dataset.zoom);
      load(pb.time() ?? pb.requested, false);
    });
  }
  $("#zw-pb-export").addEventListener("click", exportAround);
  $("#zw-pb-cameras").addEventListener("change", (e) => openPlayback({ camera: e.target.value, at: pb.time() ?? pb.requested }));
  $("#zw-pb-timeline").addEventListener("click", (e) => {
    if (e.target.closest(".zw-pb-mark")) return;
    const r = e.currentTarget.getBoundingClientRect();
    const [w0, w1] = pb.window;
    seek(w0 + ((e.clientX - r.left) / r.width) * (w1 - w0));
  });
  return box;
}

/** Play ``camera``'s recording from ``at`` (epoch seconds); ``alertId`` is only remembered. */
export function openPlayback({ camera, at, alertId = null }) {
  const box = panel();
  box.hidden = false;
  box.dataset.camera = camera;
  box.dataset.alertId = alertId || "";
  pb.camera = camera;
  pb.alertId = alertId;
  $("#zw-pb-camera").textContent = pb.cameraName(camera);
  const select = $("#zw-pb-cameras");
  if (pb.cameras && pb.cameras.size) {
    select.hidden = false;
    select.innerHTML = [...pb.cameras.values()]
      .map((c) => `<option value="${esc(c.id)}"${c.id === camera ? " selected" : ""}>${esc(c.name)}</option>`)
      .join("");
    $("#zw-pb-camera").hidden = true;
  }
  return load(at, true);
}

export function closePlayback() {
  const box = $("#zw-playback");
  if (!box) return;
  const video = $("#zw-pb-video");
  video.pause();
  video.removeAttribute("src");
  video.load();
  box.hidden = true;
  box.dataset.state = "closed";
  pb.segment = null;
}

/** The timeline's window around ``at`` (never past now), its spans and alerts; then play ``at``. */
async function load(at, play) {
  const seq = ++pb.loadSeq;
  const box = panel();
  box.dataset.state = "loading";
  const now = Date.now() / 1000;
  const w1 = Math.min(now, at + pb.zoom / 2);
  const w0 = w1 - pb.zoom;
  pb.window = [w0, Math.max(w1, w0 + 1)];
  pb.requested = at;
  const cam = encodeURIComponent(pb.camera);
  const [segments, alerts] = await Promise.all([
    api(`/api/cameras/${cam}/recordings?start=${w0}&end=${w1}`),
    api(`/api/alerts?since=${w0}&limit=1000`).catch(() => []),
  ]);
  if (seq !== pb.loadSeq) return;
  pb.segments = segments;
  pb.alerts = alerts.filter((a) => a.first_ts <= w1 && (a.camera_id === pb.camera || (a.cameras || []).includes(pb.camera)));
  for (const b of box.querySelectorAll("[data-zoom]")) b.setAttribute("aria-pressed", String(Number(b.dataset.zoom) === pb.zoom));
  drawTimeline();
  if (play || !pb.segment) await seek(at);
  else showTime();
}

function pct(t) {
  const [w0, w1] = pb.window;
  return `${(((t - w0) / (w1 - w0)) * 100).toFixed(3)}%`;
}

function drawTimeline() {
  const [w0, w1] = pb.window;
  const clip = (t) => Math.min(Math.max(t, w0), w1);
  $("#zw-pb-spans").innerHTML = pb.segments
    .map((s) => `<span style="left:${pct(clip(s.start))};width:calc(${pct(clip(s.end))} - ${pct(clip(s.start))})"></span>`)
    .join("");
  $("#zw-pb-marks").replaceChildren(
    ...pb.alerts.map((a) => {
      const b = document.createElement("button");
      b.type = "button";
      b.className = `zw-pb-mark zw-sev-${a.severity}`;
      b.style.left = pct(clip(a.first_ts));
      b.dataset.alertId = a.id;
      b.title = `${fmtDateTime(a.first_ts)} 告警：点击从前30秒回放 · alert, play from 30 s before`;
      b.setAttribute("aria-label", b.title);
      b.addEventListener("click", () => seek(a.first_ts - BEFORE_ALERT_S));
      return b;
    }),
  );
  const tick = ZOOMS[pb.zoom].tick;
  const labels = [];
  for (let t = Math.ceil(w0 / tick) * tick; t <= w1; t += tick) {
    const d = zoned(new Date(t * 1000));
    labels.push(`<span style="left:${pct(t)}">${d.hour}:${d.minute}</span>`);
  }
  $("#zw-pb-axis").innerHTML = labels.join("");
  panel().dataset.zoom = String(pb.zoom); // drawn
}

/** Play from ``t``: the segment holding it, else the next one after it; "no recording" else. */
async function seek(t) {
  if (!Number.isFinite(t)) return;
  const [w0, w1] = pb.window;
  if (t < w0 || t > w1) return load(t, true);
  const segment = pb.segments.find((s) => s.start <= t && t < s.end) || pb.segments.find((s) => s.start > t);
  const none = $("#zw-pb-none");
  if (!segment) {
    pb.segment = null;
    const video = $("#zw-pb-video");
    video.pause();
    video.removeAttribute("src");
    none.hidden = false;
    none.innerHTML = `${esc(fmtDateTime(t))} 之后无录像 <small>No recording from then on</small>`;
    panel().dataset.state = "none";
    $("#zw-pb-clock").textContent = "";
    $("#zw-pb-playhead").hidden = true;
    return;
  }
  none.hidden = segment.start <= t;
  if (segment.start > t) {
    none.innerHTML = `${esc(fmtDateTime(t))} 无录像，从下一段播放 <small>No recording then; the next one plays</small>`;
  }
  await playSegment(segment, Math.max(0, t - segment.start));
}

async function playSegment(segment, offset) {
  const video = $("#zw-pb-video");
  pb.segment = segment;
  const seq = ++pb.loadSeq;
  const url = await withTicket(segment.url);
  if (seq !== pb.loadSeq) return;
  panel().dataset.state = "loading";
  video.src = url;
  video.addEventListener(
    "loadedmetadata",
    () => {
      video.currentTime = Math.min(offset, Math.max(0, video.duration - 0.05));
      video.play().catch((err) => console.warn("playback", err));
    },
    { once: true },
  );
}

/** A segment that failed to load (its ticket expired during a long play): once more, fresh ticket. */
function retry() {
  const segment = pb.segment;
  if (!segment || segment.retried) return;
  segment.retried = true;
  playSegment(segment, $("#zw-pb-video").currentTime || 0);
}

function playNext() {
  const current = pb.segment;
  if (!current) return;
  const next = pb.segments.find((s) => s.start >= current.end - 0.5 && s !== current);
  if (next) playSegment(next, 0);
  else if (current.end < Date.now() / 1000 - 1) seek(current.end); // past the window: load on
}

function showTime() {
  const t = pb.time();
  $("#zw-pb-clock").textContent = t == null ? "" : fmtDateTime(t);
  const head = $("#zw-pb-playhead");
  head.hidden = t == null;
  if (t != null) head.style.left = pct(Math.min(Math.max(t, pb.window[0]), pb.window[1]));
  if (t != null) panel().dataset.time = String(t);
}

async function exportAround() {
  const t = pb.time() ?? pb.requested;
  const url = `/api/cameras/${encodeURIComponent(pb.camera)}/recordings/export?start=${t - EXPORT_BEFORE_S}&end=${t + EXPORT_AFTER_S}`;
  const a = document.createElement("a");
  a.href = await withTicket(url);
  a.download = "";
  document.body.appendChild(a);
  a.click();
  a.remove();
}

/**
 * An alert's "从告警前30秒回放" button at the end of ``holder`` (kept across re-renders): plays the
 * alert's first camera from its first sighting − 30 s. Hidden for an alert without a camera.
 */
export function playbackButton(holder, alert, cameraName = null) {
  if (!holder) return;
  if (cameraName) pb.cameraName = cameraName;
  let b = holder.querySelector(":scope > .zw-pb-open");
  if (!b) {
    b = document.createElement("button");
    b.type = "button";
    b.className = "zw-pb-open";
    b.innerHTML = `从告警前30秒回放 <small>Play from 30 s before</small>`;
    holder.appendChild(b);
  }
  const camera = alert.camera_id || (alert.cameras || [])[0];
  b.hidden = !camera;
  b.dataset.alertId = alert.id;
  b.onclick = () => openPlayback({ camera, at: alert.first_ts - BEFORE_ALERT_S, alertId: alert.id });
}

/**
 * The video screen's playback: a "录像回放" button in ``toolbar`` (the first tile's camera, the
 * last five minutes), a choice of ``cameras`` (Map id -> {id, name}) in the panel, and
 * ?playback=CAMERA&at=EPOCH opening it at once.
 */
export function mountPlayback({ toolbar, cameras, firstCamera }) {
  pb.cameras = cameras;
  pb.cameraName = (id) => (cameras.get(id) || {}).name || id;
  if (toolbar && !toolbar.querySelector(".zw-pb-launch")) {
    const b = document.createElement("button");
    b.type = "button";
    b.className = "zw-pb-launch";
    b.innerHTML = `录像回放 <small>Playback</small>`;
    b.addEventListener("click", () => {
      const camera = firstCamera() || [...cameras.keys()][0];
      if (camera) openPlayback({ camera, at: Date.now() / 1000 - 300 });
    });
    toolbar.appendChild(b);
  }
  const q = new URLSearchParams(location.search);
  const camera = q.get("playback");
  const at = Number(q.get("at"));
  if (camera) openPlayback({ camera, at: Number.isFinite(at) && at > 0 ? at : Date.now() / 1000 - 300 });
}
