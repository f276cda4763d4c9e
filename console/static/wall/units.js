/* zhizhi 智治 — names of the units the user may see and of those above (GET /api/wall/units). */

import { api } from "../lib/session.js";

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
