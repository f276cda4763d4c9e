/* zhizhi 智治 — the wall screens' boot-time error reporting (a classic script, loaded first).
 *
 * A failed asset (Leaflet, a stylesheet, a module) or a failed call shows a banner instead of a
 * blank screen. The same window.zhizhiBoot interface as the map page's inline script, which
 * map.js reports through on the map screen.
 */
(function () {
  "use strict";
  var queued = [];
  function esc(s) {
    return String(s == null ? "" : s).replace(/[&<>"']/g, function (c) {
      return { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c];
    });
  }
  function render(title, detail) {
    var banner = document.getElementById("zz-errors");
    if (!banner) {
      queued.push([title, detail]);
      return;
    }
    var li = document.createElement("li");
    li.innerHTML = "<b>" + esc(title) + "</b>" + (detail ? "<span>" + esc(detail) + "</span>" : "");
    banner.querySelector("ul").appendChild(li);
    banner.hidden = false;
    document.body.classList.add("zz-has-errors");
  }
  window.zhizhiBoot = {
    assetErrors: [],
    errors: [],
    fail: function (title, detail) {
      window.zhizhiBoot.errors.push({ title: title, detail: detail || "" });
      render(title, detail);
    },
    assetFailed: function (el) {
      var url = el.src || el.href;
      window.zhizhiBoot.assetErrors.push(url);
      window.zhizhiBoot.fail(
        "前端资源缺失 Front-end asset missing: " + url,
        "运行 scripts/install_assets.sh 安装前端资源 (run scripts/install_assets.sh, or make setup)"
      );
      if (document.body) document.body.dataset.ready = "error";
    },
  };
  document.addEventListener("DOMContentLoaded", function () {
    var pending = queued;
    queued = [];
    pending.forEach(function (e) {
      render(e[0], e[1]);
    });
  });
})();
