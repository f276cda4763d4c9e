/* zhizhi 智治 — what every screen of a wall has: its wall's name (?wall=NAME), the header with
 * the links to the wall's other screens and the live link's light, the district from
 * GET /api/config; a full-width "重新连接中…" banner while the live link is down after it was
 * up (it reconnects by itself: live.js); kiosk mode (kiosk.js). */

import { $, esc } from "../lib/dom.js";
import { mountHeader, showConfig } from "../lib/header.js";
import { api, token } from "../lib/session.js";
import { applyKiosk } from "./kiosk.js";

/** The wall this screen belongs to: ?wall=NAME (default "main"). */
export function wallName() {
  const raw = new URLSearchParams(location.search).get("wall") || "main";
  return raw.trim().slice(0, 64) || "main";
}

const NAV_HTML = `
  <nav class="zw-screens" aria-label="大屏画面 wall screens">
    <a data-screen-link="map">地图 <small>Map</small></a>
    <a data-screen-link="video">视频 <small>Video</small></a>
    <a data-screen-link="alerts">告警 <small>Alerts</small></a>
  </nav>`;

const CONN_HTML = `
  <div class="zz-header-item zz-status zw-conn" id="zw-conn" data-state="connecting">
    <span class="zz-label">实时连接 Link</span>
    <b><i class="zz-dot"></i><span id="zw-conn-text">连接中</span></b>
  </div>`;

const CONN_TEXT = {
  connecting: "连接中",
  live: "实时",
  reconnecting: "重连中",
  offline: "已断开",
};

/** The page title of a screen: "智治联动指挥大屏 · 告警". */
export const screenTitle = (title) => `智治联动指挥大屏 · ${title}`;

/**
 * The header of the wall screen ``screen`` ("map", "video", "alerts"), titled ``title`` /
 * ``titleEn``, following ``link`` (live.js); ``status`` (HTML) goes after the link's light.
 */
export function mountWallHeader({ screen, title, titleEn, link, status = "" }) {
  if (!token()) return; // the screen goes to the login page
  mountHeader({
    subtitle: `联动指挥大屏 <b class="zw-wall-name" id="zw-wall-name">—</b> · ${esc(title)} <span>${esc(titleEn)}</span>`,
    nav: NAV_HTML,
    status: CONN_HTML + status,
  });
  $("#zw-wall-name").textContent = link.wall;
  applyKiosk();
  for (const a of document.querySelectorAll("[data-screen-link]")) {
    const target = a.dataset.screenLink;
    a.href = `/wall?screen=${target}&wall=${encodeURIComponent(link.wall)}`;
    a.classList.toggle("zw-current", target === screen);
  }
  showConnection(link);
}

/** The full-width banner shown while the live link is down (once it has been up). */
function reconnectBanner() {
  const banner = document.createElement("div");
  banner.id = "zw-reconnecting";
  banner.className = "zw-reconnecting";
  banner.setAttribute("role", "status");
  banner.hidden = true;
  banner.innerHTML = '<b>重新连接中…</b> <span id="zw-reconnecting-detail"></span>';
  document.body.appendChild(banner);
  return banner;
}

/** The header's connection light and the reconnecting banner follow the wall's live link. */
function showConnection(link) {
  const box = $("#zw-conn");
  const text = $("#zw-conn-text");
  const banner = reconnectBanner();
  let wasLive = false;
  const update = () => {
    const s = link.state;
    box.dataset.state = s;
    let t = CONN_TEXT[s] || s;
    if (s === "reconnecting" && link.retryAt) {
      const secs = Math.max(0, Math.ceil((link.retryAt - Date.now()) / 1000));
      t += ` · ${secs}s`;
    }
    text.textContent = t;
    box.title = `seq ${link.lastSeq ?? "—"} · 重连 reconnects ${link.reconnects}`;
    document.body.dataset.conn = s;
    wasLive = wasLive || s === "live";
    banner.hidden = s === "live" || !wasLive;
    if (!banner.hidden && link.retryAt) {
      const secs = Math.max(0, Math.ceil((link.retryAt - Date.now()) / 1000));
      $("#zw-reconnecting-detail").textContent = secs ? `${secs} 秒后重试` : "正在重试";
    }
  };
  link.addEventListener("state", update);
  setInterval(update, 1000);
  update();
}

/** GET /api/config, shown in the header of screen ``title``; the configuration. */
export async function loadConfig(title) {
  const config = await api("/api/config");
  showConfig(config, screenTitle(title));
  return config;
}
