/* zhizhi 智治 — boot-time error reporting: the one classic script of the pages, loaded first.
 *
 * A failed asset (Leaflet, a stylesheet, a module) or a failed call shows a banner instead of a
 * blank screen. Loaded before everything else, so that it sees the failures of what follows:
 * a <link> or <script> that does not load (an error listener on the window), and what the
 * modules report through lib/errors.js (window.zhizhiBoot, its one entry). It builds the banner
 * (#zz-errors) itself, in the map's frame (.zz-map-wrap) or else the page's <main>, once the
 * page has a body.
 */
(function () {
  "use strict";
  var queued = [];

  function banner() {
    var box = document.getElementById("zz-errors");
    if (box || !document.body) return box;
    box = document.createElement("div");
    box.id = "zz-errors";
    box.className = "zz-errors";
    box.setAttribute("role", "alert");
    box.hidden = true;
    box.innerHTML =
      '<div class="zz-errors-head"><span>⚠ 数据或资源加载失败 · Something failed to load</span>' +
      '<button type="button" class="zz-errors-close" aria-label="关闭 dismiss">×</button></div><ul></ul>';
    box.querySelector(".zz-errors-close").addEventListener("click", function () {
      box.hidden = true;
    });
    (document.querySelector(".zz-map-wrap") || document.querySelector("main") || document.body).appendChild(box);
    return box;
  }

  function render(title, detail) {
    var box = document.readyState === "loading" ? null : banner();
    if (!box) {
      queued.push([title, detail]);
      return;
    }
    var li = document.createElement("li");
    li.appendChild(document.createElement("b")).textContent = title;
    if (detail) li.appendChild(document.createElement("span")).textContent = detail;
    box.querySelector("ul").appendChild(li);
    box.hidden = false;
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

  // A <script> or <link> that fails to load: its error event does not bubble, but it passes
  // the window on its way down (capture), for every tag after this script.
  window.addEventListener(
    "error",
    function (e) {
      var el = e.target;
      if (el && el !== window && (el.tagName === "SCRIPT" || el.tagName === "LINK")) {
        window.zhizhiBoot.assetFailed(el);
      }
    },
    true
  );

  document.addEventListener("DOMContentLoaded", function () {
    var pending = queued;
    queued = [];
    pending.forEach(function (e) {
      render(e[0], e[1]);
    });
  });
})();
