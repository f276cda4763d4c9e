/* zhizhi 智治 — the search box over the map: a grid code or a name (GET /api/search), a list of
 * hits to pick with the mouse or the arrow keys, then a flight to the hit with its outline. */

import { $, esc } from "../lib/dom.js";
import { LEVEL } from "../lib/format.js";
import { api } from "../lib/session.js";
import { boundsOf, viewPadding, whenMoved } from "./base.js";
import { outlineOf } from "./layers.js";
import { reportError } from "./report.js";

const HIGHLIGHT = {
  color: "#ffd740",
  weight: 4,
  opacity: 1,
  fillColor: "#ffd740",
  fillOpacity: 0.08,
  className: "zz-highlight",
};

const hitHtml = (hit) =>
  `<span class="zz-hit-level zz-level-${esc(hit.level)}">${esc(LEVEL[hit.level] || hit.level)}</span>` +
  `<span class="zz-hit-name">${esc(hit.name)}</span><code class="zz-hit-code">${esc(hit.code)}</code>`;

/** {search(q), select(hit), clearSelection()} for ``view``, wired to the search box. */
export function createSearch(view) {
  let searchSeq = 0;
  let searchHits = [];
  let activeHit = -1;

  async function search(q) {
    q = String(q || "").trim();
    const seq = ++searchSeq;
    if (!q) {
      showHits([]);
      return [];
    }
    let hits;
    try {
      hits = await api(`/api/search?q=${encodeURIComponent(q)}`);
    } catch (err) {
      reportError("搜索失败 Search failed", err);
      throw err;
    }
    if (seq !== searchSeq) return hits;
    showHits(hits, q);
    return hits;
  }

  function showHits(hits, q) {
    searchHits = Array.isArray(hits) ? hits : [];
    activeHit = searchHits.length ? 0 : -1;
    const ul = $("#zz-search-results");
    ul.innerHTML = "";
    if (q === undefined) {
      ul.hidden = true;
      return;
    }
    if (!searchHits.length) {
      ul.innerHTML = `<li class="zz-hit-none">未找到 “${esc(q)}” · No match</li>`;
      ul.hidden = false;
      return;
    }
    searchHits.forEach((hit, i) => {
      const li = document.createElement("li");
      li.className = "zz-hit" + (i === activeHit ? " zz-active" : "");
      li.setAttribute("role", "option");
      li.dataset.code = hit.code;
      li.innerHTML = hitHtml(hit);
      li.addEventListener("mousedown", (e) => {
        e.preventDefault(); // keep focus in the box until the selection is made
        select(hit);
      });
      ul.appendChild(li);
    });
    ul.hidden = false;
  }

  function markActive() {
    document.querySelectorAll("#zz-search-results .zz-hit").forEach((li, i) => {
      li.classList.toggle("zz-active", i === activeHit);
      if (i === activeHit) li.scrollIntoView({ block: "nearest" });
    });
  }

  /** Fly to a search hit ({code, name, level, bounds}) and outline it. */
  async function select(hit) {
    const map = view.map;
    $("#zz-search-results").hidden = true;
    $("#zz-search-input").value = hit.name;
    view.selected = hit;

    if (view.highlight) map.removeLayer(view.highlight);
    let outline = outlineOf(view, hit.code, "zz-highlight", HIGHLIGHT);
    const bounds = boundsOf(hit.bounds) || (outline && outline.getBounds());
    if (!outline && bounds) {
      outline = L.rectangle(bounds, Object.assign({ pane: "zz-highlight", interactive: false, dashArray: "8 6" }, HIGHLIGHT));
    }
    if (outline) {
      outline.addTo(map);
      view.highlight = outline;
    }
    const sel = $("#zz-search-selected");
    sel.hidden = false;
    sel.dataset.code = hit.code;
    sel.innerHTML = hitHtml(hit);
    if (bounds && bounds.isValid()) {
      const moved = whenMoved(map);
      map.flyToBounds(bounds, Object.assign(viewPadding(view, 60), { maxZoom: 17, duration: 0.8 }));
      await moved;
    }
    return hit;
  }

  /** Forget the search: its outline, the chip under the box and the box's text. */
  function clearSelection() {
    if (view.highlight) view.map.removeLayer(view.highlight);
    view.highlight = null;
    view.selected = null;
    const input = $("#zz-search-input");
    input.value = "";
    input.blur();
    showHits([]);
    const sel = $("#zz-search-selected");
    sel.hidden = true;
    delete sel.dataset.code;
  }

  const input = $("#zz-search-input");
  let timer = null;
  input.addEventListener("input", () => {
    clearTimeout(timer);
    timer = setTimeout(() => search(input.value).catch(() => {}), 220);
  });
  input.addEventListener("keydown", async (e) => {
    if (e.key === "ArrowDown" || e.key === "ArrowUp") {
      if (!searchHits.length) return;
      e.preventDefault();
      activeHit = (activeHit + (e.key === "ArrowDown" ? 1 : -1) + searchHits.length) % searchHits.length;
      markActive();
    } else if (e.key === "Enter") {
      e.preventDefault();
      clearTimeout(timer);
      let hits = searchHits;
      const shown = !$("#zz-search-results").hidden;
      if (!shown || !hits.length) {
        try {
          hits = await search(input.value);
        } catch (_) {
          return;
        }
      }
      if (hits && hits.length) select(hits[Math.max(activeHit, 0)] || hits[0]);
    } else if (e.key === "Escape") {
      clearSelection();
    }
  });
  input.addEventListener("blur", () => setTimeout(() => ($("#zz-search-results").hidden = true), 150));
  input.addEventListener("focus", () => {
    if (searchHits.length) $("#zz-search-results").hidden = false;
  });

  return { search, select, clearSelection };
}
