/* zhizhi 智治 — what the three wall screens share: labels, formatting, the header, unit names. */

import { api, logout, token, user } from "./session.js";

export const SEVERITY = {
  red: { rank: 0, label: "红色", en: "Red", color: "#ff3b3b" },
  orange: { rank: 1, label: "橙色", en: "Orange", color: "#ff8f1f" },
  yellow: { rank: 2, label: "黄色", en: "Yellow", color: "#ffd600" },
  blue: { rank: 3, label: "蓝色", en: "Blue", color: "#2f8cff" },
};

export const STATUS = {
  new: { label: "新告警", en: "New" },
  acknowledged: { label: "已确认", en: "Acknowledged" },
  dispatched: { label: "已派遣", en: "Dispatched" },
  on_scene: { label: "已到场", en: "On scene" },
  resolved: { label: "已处置", en: "Resolved" },
  closed: { label: "已关闭", en: "Closed" },
  reopened: { label: "已重开", en: "Reopened" },
};
export const OPEN = new Set(["new", "acknowledged", "dispatched", "on_scene", "reopened"]);

/** The lifecycle of alerts/lifecycle.py: allowed targets, and the moves that need a note. */
export const TRANSITIONS = {
  new: ["acknowledged", "dispatched", "resolved", "closed"],
  acknowledged: ["dispatched", "on_scene", "resolved", "closed"],
  dispatched: ["on_scene", "resolved"],
  on_scene: ["resolved"],
  resolved: ["closed", "reopened"],
  closed: ["reopened"],
  reopened: ["acknowledged", "dispatched", "on_scene", "resolved"],
};
export const NOTE_REQUIRED = new Set(["new>closed", "acknowledged>closed", "resolved>reopened", "closed>reopened"]);

/** Verbs on the board's buttons, per target status. */
export const ACTION = {
  acknowledged: { label: "确认", en: "Ack" },
  dispatched: { label: "派遣", en: "Dispatch" },
  on_scene: { label: "到场", en: "On scene" },
  resolved: { label: "处置完毕", en: "Resolve" },
  closed: { label: "关闭", en: "Close" },
  reopened: { label: "重开", en: "Reopen" },
};

export const RULE = {
  abnormal_stop: "危化品异常停车",
  zone_entry: "闯入禁行区域",
  prohibited_hours: "禁行时段通行",
  speeding: "超速行驶",
  wrong_way: "逆向行驶",
  crowd: "人员聚集",
  route_deviation: "偏离核定路线",
  fatigue: "疲劳驾驶",
  signal_loss: "定位信号中断",
};
export const RULE_EN = {
  abnormal_stop: "Abnormal stop",
  zone_entry: "Prohibited zone",
  prohibited_hours: "Prohibited hours",
  speeding: "Speeding",
  wrong_way: "Wrong way",
  crowd: "Crowd",
  route_deviation: "Off route",
  fatigue: "Fatigue",
  signal_loss: "Signal lost",
};

/** Kinds of incidents (alerts/incidents/record.py). */
export const INCIDENT = {
  typhoon: { label: "台风", en: "Typhoon" },
  flood: { label: "洪涝", en: "Flood" },
  rainstorm: { label: "暴雨", en: "Rainstorm" },
  fire: { label: "火灾", en: "Fire" },
  chemical_leak: { label: "危化品泄漏", en: "Chemical leak" },
  other: { label: "突发事件", en: "Incident" },
};

export const CLASS = {
  hazmat_tanker: { label: "危化品车", en: "Hazmat tanker", color: "#ff6d00" },
  truck: { label: "货车", en: "Truck", color: "#b388ff" },
  bus: { label: "客车", en: "Bus", color: "#40c4ff" },
  car: { label: "小汽车", en: "Car", color: "#e0f7fa" },
  person: { label: "行人", en: "Person", color: "#69f0ae" },
};
export const CLASS_OTHER = { label: "其他", en: "Other", color: "#b0bec5" };

/** Camera source states of video/status.py (and "unknown": nothing heard yet). */
export const CAMERA_STATE = {
  online: { label: "在线", en: "Online", color: "#00e676" },
  starting: { label: "连接中", en: "Starting", color: "#4fc3f7" },
  reconnecting: { label: "重连中", en: "Reconnecting", color: "#ffb300" },
  offline: { label: "离线", en: "Offline", color: "#ff5252" },
  unknown: { label: "未知", en: "Unknown", color: "#78909c" },
};

export const LEVEL = { district: "区县", town: "镇街", village: "村社区", grid: "网格" };

export const $ = (sel, root = document) => root.querySelector(sel);
export const esc = (s) =>
  String(s == null ? "" : s).replace(
    /[&<>"']/g,
    (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c],
  );
const pad = (n) => String(n).padStart(2, "0");

export function ruleLabel(alert) {
  const key = alert.rule || alert.category;
  return RULE[key] || key || "—";
}

export function ruleEn(alert) {
  const key = alert.rule || alert.category;
  return RULE_EN[key] || "";
}

/** Epoch seconds -> "14:03:27" today, "06-01 14:03" on other days. */
export function fmtTime(ts) {
  if (!Number.isFinite(ts)) return "—";
  const d = new Date(ts * 1000);
  const now = new Date();
  const time = `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
  if (d.toDateString() === now.toDateString()) return time;
  return `${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${time.slice(0, 5)}`;
}

/** "3 分钟前" style age of an epoch-seconds time. */
export function fmtAge(ts) {
  if (!Number.isFinite(ts)) return "";
  const s = Math.max(0, Date.now() / 1000 - ts);
  if (s < 60) return `${Math.floor(s)} 秒前`;
  if (s < 3600) return `${Math.floor(s / 60)} 分钟前`;
  if (s < 86400) return `${Math.floor(s / 3600)} 小时前`;
  return `${Math.floor(s / 86400)} 天前`;
}

/** Severity first (red on top), then the newest first. */
export function compareAlerts(a, b) {
  const open = Number(!OPEN.has(a.status)) - Number(!OPEN.has(b.status));
  if (open) return open;
  const rank = (SEVERITY[a.severity] || { rank: 9 }).rank - (SEVERITY[b.severity] || { rank: 9 }).rank;
  if (rank) return rank;
  return (b.first_ts || 0) - (a.first_ts || 0) || String(a.id).localeCompare(String(b.id));
}

// ------------------------------------------------------------------------------ unit names

/** Names of the units the user may see and of those above (GET /api/wall/units). */
export class Units {
  constructor(list = []) {
    this.byCode = new Map(list.map((u) => [u.code, u]));
  }

  static async load() {
    return new Units(await api("/api/wall/units"));
  }

  name(code) {
    const u = code && this.byCode.get(code);
    return u ? u.name : code || "";
  }

  /** "某镇 · 某村 · 网格名" of an alert (the names the user may see). */
  place(alert) {
    const parts = [alert.town, alert.village, alert.grid].filter(Boolean).map((c) => this.name(c));
    return parts.length ? parts.join(" · ") : "辖区外 Outside the grids";
  }

  /** The units strictly below ``code`` that contain ``grid``: the hand-down choices. */
  below(code, grid) {
    if (!grid || !code) return [];
    const out = [];
    for (const len of [9, 12, 15]) {
      if (len <= code.length || len > grid.length) continue;
      const c = grid.slice(0, len);
      const u = this.byCode.get(c);
      out.push({ code: c, name: u ? u.name : c, level: u ? u.level : "" });
    }
    return out;
  }
}

// ------------------------------------------------------------------------------ header

export function startClock() {
  const days = ["日", "一", "二", "三", "四", "五", "六"];
  const tick = () => {
    const now = new Date();
    const t = $("#zz-clock-time");
    const d = $("#zz-clock-date");
    if (t) t.textContent = `${pad(now.getHours())}:${pad(now.getMinutes())}:${pad(now.getSeconds())}`;
    if (d) d.textContent = `${now.getFullYear()}-${pad(now.getMonth() + 1)}-${pad(now.getDate())} 星期${days[now.getDay()]}`;
  };
  tick();
  setInterval(tick, 1000);
}

export function showUser() {
  const name = $("#zz-user-name");
  if (name) name.textContent = user().name || user().username || "—";
  const button = $("#zz-logout");
  if (button) button.addEventListener("click", () => logout());
}

const CONN_TEXT = {
  connecting: "连接中 Connecting",
  live: "实时 Live",
  reconnecting: "重连中 Reconnecting",
  offline: "已断开 Offline",
};

/** The header's connection indicator follows the wall link. */
export function showConnection(link) {
  const box = $("#zw-conn");
  const text = $("#zw-conn-text");
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
  };
  link.addEventListener("state", update);
  setInterval(update, 1000);
  update();
}

/** The wall's name in the header and the links to its other screens. */
export function showWall(wall, screen) {
  const name = $("#zw-wall-name");
  if (name) name.textContent = wall;
  for (const a of document.querySelectorAll("[data-screen-link]")) {
    const target = a.dataset.screenLink;
    a.href = `/wall?screen=${target}&wall=${encodeURIComponent(wall)}`;
    a.classList.toggle("zw-current", target === screen);
  }
}

/** The wall this screen belongs to: ?wall=NAME (default "main"). */
export function wallName() {
  const raw = new URLSearchParams(location.search).get("wall") || "main";
  return raw.trim().slice(0, 64) || "main";
}

/** District, scope and the synthetic badge in the header (GET /api/config); the config. */
export async function showConfig(screenTitle) {
  const config = await api("/api/config");
  const district = config.district || {};
  const name = district.name || district.code || "—";
  $("#zz-district-name").textContent = name;
  document.title = `${name} · 智治联动指挥大屏 · ${screenTitle}`;
  const synthetic = $("#zz-synthetic");
  if (synthetic) synthetic.hidden = !config.synthetic;
  const scope = config.scope || {};
  $("#zz-scope-name").textContent = scope.name
    ? `${scope.name}${scope.level && LEVEL[scope.level] ? " · " + LEVEL[scope.level] : ""}`
    : "—";
  return config;
}

/** A header for the screens without map.js (video, alerts). */
export function headerHtml(screen, title, titleEn) {
  return `
    <div class="zz-brand">
      <span class="zz-logo" aria-hidden="true">智治</span>
      <div class="zz-brand-text">
        <h1 class="zz-title" id="zz-district-name">正在连接 Connecting…</h1>
        <div class="zz-subtitle">联动指挥大屏 <b class="zw-wall-name" id="zw-wall-name">—</b> · ${esc(title)} <span>${esc(titleEn)}</span></div>
      </div>
    </div>
    <span class="zz-badge zz-badge-synthetic" id="zz-synthetic" hidden
          title="演示数据由程序生成，不代表真实情况 · generated demo data">合成数据 / synthetic</span>
    <nav class="zw-screens" aria-label="大屏画面 wall screens">
      <a data-screen-link="map">地图 <small>Map</small></a>
      <a data-screen-link="video">视频 <small>Video</small></a>
      <a data-screen-link="alerts">告警 <small>Alerts</small></a>
    </nav>
    <div class="zz-header-spacer"></div>
    <div class="zz-header-item zz-scope"><span class="zz-label">管辖范围 Scope</span><b id="zz-scope-name">—</b></div>
    <div class="zz-header-item zz-user">
      <span class="zz-label">用户 User
        <button type="button" id="zz-logout" class="zw-logout" title="退出登录 Log out">退出</button></span>
      <b id="zz-user-name">—</b>
    </div>
    <div class="zz-header-item zz-status zw-conn" id="zw-conn" data-state="connecting">
      <span class="zz-label">实时连接 Link</span>
      <b><i class="zz-dot"></i><span id="zw-conn-text">连接中 Connecting</span></b>
    </div>
    <div class="zz-clock" aria-live="off">
      <div class="zz-clock-time" id="zz-clock-time">--:--:--</div>
      <div class="zz-clock-date" id="zz-clock-date"></div>
    </div>`;
}

/** Everything a screen without map.js does first: header, user, clock, wall, connection. */
export function mountHeader(screen, title, titleEn, link) {
  if (!token()) return;
  $(".zz-header").innerHTML = headerHtml(screen, title, titleEn);
  showWall(link.wall, screen);
  showUser();
  startClock();
  showConnection(link);
}

/** Report a failure in the page's banner (boot.js). */
export function fail(title, err) {
  const boot = window.zhizhiBoot;
  const detail = err && err.message ? err.message : String(err || "");
  console.error(title, err);
  if (boot) boot.fail(title, detail);
}

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
  fetch(source, { headers: { Authorization: `Bearer ${token()}` } })
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
