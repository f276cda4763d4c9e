/* zhizhi 智治 — an alert's evidence files on the wall (the board's detail, the video screen). */

import { esc } from "../lib/dom.js";
import { fetchWithToken } from "../lib/session.js";

/**
 * An alert's evidence file in ``holder`` (a .zw-media box): the snapshot as <img>, the clip as
 * <video>. The file is fetched with the bearer header and shown from a blob: URL, so the login's
 * token never sits in a URL (tags cannot send headers). Nothing is asked for while the alert has
 * no such file; a clip the browser cannot decode offers a download instead. With ``camera``, the
 * file is that of a camera that joined the alert (one of ``evidence.views``: ``?camera=``).
 */
export function showMedia(holder, kind, alertId, path, zh, en, camera = null) {
  if (!holder) return;
  const key = `${alertId}|${path || ""}`;
  if (holder.dataset.key === key) return;
  holder.dataset.key = key;
  holder.dataset.loaded = "false";
  const note = holder.querySelector(".zw-novideo");
  note.innerHTML = `${esc(zh)}<small>${esc(en)}</small>`;
  for (const el of holder.querySelectorAll("img, video")) el.remove();
  if (holder.zwBlob) URL.revokeObjectURL(holder.zwBlob);
  holder.zwBlob = null;
  if (!path) return;
  const of = camera ? `camera=${encodeURIComponent(camera)}&` : "";
  const source = `/api/alerts/${encodeURIComponent(alertId)}/evidence/${kind}?${of}v=${encodeURIComponent(path)}`;
  fetchWithToken(source)
    .then((resp) => {
      if (!resp.ok) throw new Error(`${source} → HTTP ${resp.status}`);
      return resp.blob();
    })
    .then((blob) => {
      if (holder.dataset.key !== key) return; // another alert was selected meanwhile
      const url = URL.createObjectURL(blob);
      holder.zwBlob = url;
      let el;
      if (kind === "snapshot") {
        el = document.createElement("img");
        el.alt = "告警快照 alert snapshot";
        el.onload = () => (holder.dataset.loaded = "true");
      } else {
        el = document.createElement("video");
        Object.assign(el, { muted: true, autoplay: true, loop: true, controls: true, playsInline: true });
        el.onloadeddata = () => (holder.dataset.loaded = "true");
        el.onerror = () => {
          holder.dataset.loaded = "false";
          holder.dataset.playable = "false";
          el.remove();
          note.innerHTML =
            `浏览器无法播放此录像<small>This browser cannot play the clip · ` +
            `<a href="${esc(url)}" download="${esc(alertId)}-clip.webm">下载 Download</a></small>`;
        };
      }
      el.src = url;
      holder.appendChild(el);
    })
    .catch((err) => console.warn("evidence", err));
}

/**
 * The evidence of the cameras that joined an alert after its first one (``evidence.views``) in
 * ``box``: a thumbnail of each one's snapshot with the camera's name; a click plays that
 * camera's clip in ``clipHolder`` (where the first camera's clip is) and names it in
 * ``caption``, a second click goes back to the first camera's. Hidden while there is none.
 */
export function showViews(box, clipHolder, caption, a, cameraName) {
  if (!box) return;
  const views = ((a.evidence || {}).views || []).filter((v) => v && v.camera_id);
  const playing = box.dataset.alert === a.id ? box.dataset.playing || "" : "";
  box.dataset.alert = a.id;
  box.hidden = !views.length;
  box.dataset.count = String(views.length);
  const first = () => {
    box.dataset.playing = "";
    const ev = a.evidence || {};
    showMedia(clipHolder, "clip", a.id, ev.clip, "暂无录像", "No clip");
    if (caption) caption.textContent = a.camera_id ? `${cameraName(a.camera_id)} · 首个摄像头 first camera` : "";
    for (const b of box.querySelectorAll("button")) b.setAttribute("aria-pressed", "false");
  };
  const play = (view, button) => {
    box.dataset.playing = view.camera_id;
    showMedia(clipHolder, "clip", a.id, view.clip, "该摄像头暂无录像", "No clip of this camera yet", view.camera_id);
    if (caption) caption.textContent = `${cameraName(view.camera_id)} · 后加入 joined`;
    for (const b of box.querySelectorAll("button")) b.setAttribute("aria-pressed", String(b === button));
  };
  const known = new Map([...box.querySelectorAll("button")].map((b) => [b.dataset.camera, b]));
  const buttons = views.map((view) => {
    let b = known.get(view.camera_id);
    if (!b) {
      b = document.createElement("button");
      b.type = "button";
      b.className = "zw-ev-view";
      b.dataset.camera = view.camera_id;
      b.innerHTML = `<div class="zw-media"><div class="zw-novideo"></div></div><span class="zw-ev-view-name"></span>`;
    }
    b.querySelector(".zw-ev-view-name").textContent = cameraName(view.camera_id);
    b.title = `${cameraName(view.camera_id)}：点击播放录像 · click to play its clip`;
    b.onclick = () => (box.dataset.playing === view.camera_id ? first() : play(view, b));
    showMedia(b.querySelector(".zw-media"), "snapshot", a.id, view.snapshot, "暂无快照", "No snapshot", view.camera_id);
    return b;
  });
  box.querySelector(".zw-ev-views-list").replaceChildren(...buttons);
  const current = views.find((v) => v.camera_id === playing);
  if (current) play(current, buttons[views.indexOf(current)]);
  else first();
}
