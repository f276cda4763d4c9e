/* zhizhi 智治 — what the map page and the wall's map screen show around the map: the search box
 * and the loading note over the map, and the side panel's cards (the clicked point's units, the
 * cameras that see it, the legend). Both pages have the same frame:
 *   <section class="zz-map-wrap"><div id="map"></div></section><aside class="zz-panel"></aside>
 * the wall's own cards stay in its page, above these.
 *
 * On a wall screen (body.zw-screen) the map gets the screen: the side panel floats over it with
 * only the wall's cards showing and a small button that unfolds the map's cards, and each layer
 * control folds to its title, which opens it (wall.css draws both states). */

import { $ } from "../lib/dom.js";

const SEARCH_HTML = `
  <div class="zz-search" role="search">
    <input id="zz-search-input" type="search" autocomplete="off" spellcheck="false"
           placeholder="搜索网格编码或名称"
           aria-label="搜索网格编码或名称 Search a grid code or a name"
           aria-controls="zz-search-results">
    <ul id="zz-search-results" class="zz-search-results" role="listbox" hidden></ul>
    <div id="zz-search-selected" class="zz-search-selected" hidden></div>
  </div>`;

const LOADING_HTML = `
  <div id="zz-loading" class="zz-loading">
    <div class="zz-spinner" aria-hidden="true"></div>
    <div id="zz-loading-text">正在加载图层 Loading layers…</div>
  </div>`;

const unitRow = (level, zh, en, extra = "") => `
  <div class="zz-unit${extra}">
    <dt>${zh} <small>${en}</small></dt>
    <dd><span class="zz-unit-name" data-field="${level}-name"></span>
      <code class="zz-unit-code" data-field="${level}-code"${level === "grid" ? ' id="zz-grid-code"' : ""}></code></dd>
  </div>`;

const CARDS_HTML = `
  <section class="zz-card" id="zz-location" data-state="idle">
    <h2>点位查询 <small>Location</small></h2>
    <p class="zz-hint" id="zz-location-hint">点击地图任意位置，查询所属网格与可视摄像头
      <span>Click the map to locate a point</span></p>
    <div id="zz-location-body" hidden>
      <div class="zz-coords" id="zz-coords"></div>
      <p class="zz-outside" id="zz-outside" hidden>该点不在辖区内 · Outside the district</p>
      <dl class="zz-units" id="zz-units">
        ${unitRow("grid", "网格", "Grid", " zz-unit-grid")}
        ${unitRow("village", "村社区", "Village")}
        ${unitRow("town", "镇街", "Town")}
        ${unitRow("district", "区县", "District")}
      </dl>
    </div>
  </section>

  <section class="zz-card" id="zz-cameras" data-state="idle">
    <h2>可视摄像头 <small>Cameras that see this point</small>
      <span class="zz-count" id="zz-camera-count">0</span></h2>
    <p class="zz-hint" id="zz-camera-empty">点击地图后列出视域覆盖该点的摄像头（由近及远）
      <span>Nearest first, after a click on the map</span></p>
    <ol class="zz-camera-list" id="zz-camera-list"></ol>
  </section>

  <section class="zz-card zz-legend-card">
    <h2>图例 <small>Legend</small></h2>
    <ul class="zz-legend" id="zz-legend"></ul>
  </section>`;

/** Put the search box and the loading note over the map, the cards into the side panel. */
export function mountPanels() {
  $(".zz-map-wrap").insertAdjacentHTML("beforeend", SEARCH_HTML + LOADING_HTML);
  $(".zz-panel").insertAdjacentHTML("beforeend", CARDS_HTML);
  if (document.body.classList.contains("zw-screen")) foldPanels();
}

/** A wall screen's panels start folded: a button opens the side panel's map cards, a click on a
 *  layer control's title opens that control. */
function foldPanels() {
  const panel = $(".zz-panel");
  const button = document.createElement("button");
  button.type = "button";
  button.className = "zw-panel-toggle";
  button.id = "zw-panel-toggle";
  button.setAttribute("aria-expanded", "false");
  button.textContent = "图例与点位";
  button.title = "图例、点位查询、可视摄像头 legend, location, cameras";
  button.addEventListener("click", () => {
    const open = panel.classList.toggle("zw-open");
    button.setAttribute("aria-expanded", String(open));
  });
  panel.prepend(button);
  // Leaflet stops clicks inside its controls from bubbling: listen on the way down.
  document.addEventListener(
    "click",
    (e) => {
      const head = e.target.closest && e.target.closest(".zz-layers .zz-layers-head");
      if (head) head.closest(".zz-layers").classList.toggle("zw-open");
    },
    true,
  );
}

/** The loading note over the map: ``text``, or hidden when null. */
export function setLoading(text) {
  const box = $("#zz-loading");
  if (!box) return;
  box.hidden = text == null;
  if (text != null) $("#zz-loading-text").textContent = text;
}
