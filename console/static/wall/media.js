/* zhizhi 智治 — an alert's evidence files on the wall (the board's detail, the video screen). */

import { esc } from "../lib/dom.js";
import { fetchWithToken } from "../lib/session.js";

/**
 * An alert's evidence file in ``holder`` (a .zw-media box): the snapshot as <img>, the clip as
 * <video>. The file is fetched with the bearer header and shown from a blob: URL, so the login's
 * token never sits in a URL (tags cannot send headers). Nothing is asked for while the alert has
 * no such file; a clip the browser cannot decode offers a download instead.
 */
export function showMedia(holder, kind, alertId, path, zh, en) {
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
  const source = `/api/alerts/${encodeURIComponent(alertId)}/evidence/${kind}?v=${encodeURIComponent(path)}`;
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
