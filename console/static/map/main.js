/* zhizhi 智治 — the command map page (/): the header with the data status, and the map. */

import { consolePagesHtml, mountHeader, statusItemHtml } from "../lib/header.js";
import { token } from "../lib/session.js";
import { startMap } from "./page.js";

if (token()) {
  mountHeader({ subtitle: "综合指挥一张图 <span>Command Map</span>", nav: consolePagesHtml(), status: statusItemHtml() });
}

// The map's view, for the browser tests and the console's developer tools only: the page's
// modules import what they need and never read it.
window.zhizhi = startMap({ pageTitle: "智治综合指挥一张图" });
