/* zhizhi 智治 — the header every console page shows: brand and district, the synthetic-data
 * badge, the user's jurisdiction, the user with a log-out button, a status light and a clock.
 * Each page adds its own subtitle, links and status items (the map's data status, a wall
 * screen's live link). */

import { $ } from "./dom.js";
import { LEVEL, clockText } from "./format.js";
import { logout, user } from "./session.js";

/** The map page's data status (setStatus); ``hidden`` keeps it for the code, off the screen. */
export function statusItemHtml({ hidden = false } = {}) {
  return `
    <div class="zz-header-item zz-status${hidden ? " zz-hidden" : ""}" id="zz-status" data-state="loading">
      <span class="zz-label">系统状态 Status</span>
      <b><i class="zz-dot"></i><span id="zz-status-text">加载中 Loading</span></b>
    </div>`;
}

/** The console's pages in the header's links: a page with ``roles`` shows to those roles only
 *  (the console still checks every call it makes). */
export const CONSOLE_PAGES = [
  { href: "/", label: "一张图", en: "Map" },
  { href: "/wall", label: "大屏", en: "Wall" },
  { href: "/cameras", label: "摄像机", en: "Cameras" },
  { href: "/analyst", label: "模型分析", en: "Analyst", roles: ["admin", "analyst"] },
  { href: "/jurisdictions", label: "辖区", en: "Jurisdictions", roles: ["admin"] },
  { href: "/procedures", label: "处置规程", en: "SOPs", roles: ["admin"] },
  { href: "/walls", label: "大屏管理", en: "Walls", roles: ["admin"] },
];

/** The links to the console's other pages the user's role may use (``nav`` of mountHeader; the
 *  page open now is named by its subtitle, and the header has no room to spare). */
export function consolePagesHtml() {
  const role = user().role;
  const links = CONSOLE_PAGES.filter((p) => p.href !== location.pathname && (!p.roles || p.roles.includes(role)))
    .map((p) => `<a href="${p.href}" title="${p.en}">${p.label}</a>`);
  return `<nav class="zz-pages" aria-label="页面 pages">${links.join("")}</nav>`;
}

/**
 * Fill the page's <header class="zz-header">: ``subtitle`` (HTML) under the district's name,
 * ``nav`` (HTML) after the badge, ``status`` (HTML) before the clock. Shows the user, wires the
 * log-out button and starts the clock.
 */
export function mountHeader({ subtitle, nav = "", status = "" }) {
  const header = $(".zz-header");
  header.innerHTML = `
    <div class="zz-brand">
      <span class="zz-logo" aria-hidden="true">智治</span>
      <div class="zz-brand-text">
        <h1 class="zz-title" id="zz-district-name">正在连接 Connecting…</h1>
        <div class="zz-subtitle">${subtitle}</div>
      </div>
    </div>
    <span class="zz-badge zz-badge-synthetic" id="zz-synthetic" hidden
          title="演示数据由程序生成，不代表真实情况 · generated demo data">合成数据 / synthetic</span>
    ${nav}
    <div class="zz-header-spacer"></div>
    <div class="zz-header-item zz-scope">
      <span class="zz-label">管辖范围 Scope</span>
      <b id="zz-scope-name">—</b>
    </div>
    <div class="zz-header-item zz-user">
      <span class="zz-label">用户 User
        <button type="button" id="zz-logout" class="zz-logout" title="退出登录 Log out">退出</button></span>
      <b id="zz-user-name">—</b>
    </div>
    ${status}
    <div class="zz-clock" aria-live="off">
      <div class="zz-clock-time" id="zz-clock-time">--:--:--</div>
      <div class="zz-clock-date" id="zz-clock-date"></div>
    </div>`;
  const u = user();
  $("#zz-user-name").textContent = u.name || u.username || "—";
  $("#zz-logout").addEventListener("click", () => logout());
  startClock();
}

function startClock() {
  const tick = () => {
    const [time, date] = clockText();
    $("#zz-clock-time").textContent = time;
    $("#zz-clock-date").textContent = date;
  };
  tick();
  setInterval(tick, 1000);
}

/** District, jurisdiction and the synthetic badge from GET /api/config; the page's title
 *  becomes "DISTRICT · ``pageTitle``". */
export function showConfig(config, pageTitle) {
  const district = config.district || {};
  const name = district.name || district.code || "—";
  $("#zz-district-name").textContent = name;
  document.title = `${name} · ${pageTitle}`;
  $("#zz-synthetic").hidden = !config.synthetic;
  const scope = config.scope || {};
  $("#zz-scope-name").textContent = scope.name
    ? `${scope.name}${scope.level && LEVEL[scope.level] ? " · " + LEVEL[scope.level] : ""}`
    : "—";
}

/** The status light (statusItemHtml): "loading", "ok" or "error"; an error stays until the
 *  page is reloaded. */
export function setStatus(state, text) {
  const el = $("#zz-status");
  if (!el) return;
  if (el.dataset.state === "error" && state !== "error") return;
  el.dataset.state = state;
  $("#zz-status-text").textContent = text;
}

/** The district's name in the header, when no configuration could be loaded. */
export function showUnavailable(text) {
  const title = $("#zz-district-name");
  if (title) title.textContent = text;
}
