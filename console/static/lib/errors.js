/* zhizhi 智治 — failures shown in the page's banner (lib/boot.js, the classic script every page
 * loads first; window.zhizhiBoot is its one entry: a classic script cannot export). */

const noBoot = { assetErrors: [], errors: [], fail: () => {} };

function boot() {
  return window.zhizhiBoot || noBoot;
}

/** Report ``title`` (and the error's message) in the banner and on the console. */
export function fail(title, err) {
  const detail = err && err.message ? err.message : String(err || "");
  console.error(title, err);
  boot().fail(title, detail);
}

/** Whether a <script>/<link> of the page failed to load (reported by its onerror). */
export function assetsFailed() {
  return boot().assetErrors.length > 0;
}
