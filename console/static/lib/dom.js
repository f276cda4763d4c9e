/* zhizhi 智治 — DOM helpers of every page. */

/** The first element matching ``sel`` (in ``root``, the document by default), or null. */
export const $ = (sel, root = document) => root.querySelector(sel);

const ENTITIES = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" };

/** ``s`` as HTML text (element content or a quoted attribute); null and undefined are "". */
export const esc = (s) => String(s == null ? "" : s).replace(/[&<>"']/g, (c) => ENTITIES[c]);
