/* zhizhi 智治 — what belongs together on the alert board: one group per physical event.
 *
 * The alert service already folds the tracks, cameras and sources that report one rule at one
 * place into one alert (its members). What is left for the board are alerts that are separate
 * but belong together in a duty officer's eyes:
 *
 * - the same open incident: an alert lying inside an active incident's area (the rule the
 *   incident service links alerts by: alerts/incidents/service.py, on_alert), or one the
 *   incident's timeline named while this board was open ("timeline" messages with an alert
 *   entry). The incident's area comes with every incident message the board hears, so the
 *   test is a point-in-polygon on the board, without asking the console anything;
 * - otherwise the same rule (category) in the same grid.
 *
 * Only open alerts are grouped (closed ones are shown one by one, after the open ones). A group
 * of one alert is a plain row. groupAlerts() is pure: the board renders what it returns.
 */

import { isOpen } from "./lifecycle.js";
import { SEVERITY, compareAlerts } from "./vocabulary.js";

/** Whether (lon, lat) lies inside a ring (GeoJSON positions; ray casting, edges counted once). */
function inRing(ring, lon, lat) {
  let inside = false;
  for (let i = 0, j = ring.length - 1; i < ring.length; j = i++) {
    const [xi, yi] = ring[i];
    const [xj, yj] = ring[j];
    if (yi > lat !== yj > lat && lon < ((xj - xi) * (lat - yi)) / (yj - yi) + xi) inside = !inside;
  }
  return inside;
}

function inPolygon(rings, lon, lat) {
  if (!rings.length || !inRing(rings[0], lon, lat)) return false;
  for (let k = 1; k < rings.length; k++) if (inRing(rings[k], lon, lat)) return false; // a hole
  return true;
}

/** Whether the GeoJSON geometry (Polygon, MultiPolygon, a collection of them) holds the point. */
export function contains(geometry, lon, lat) {
  if (!geometry || !Number.isFinite(lon) || !Number.isFinite(lat)) return false;
  switch (geometry.type) {
    case "Polygon":
      return inPolygon(geometry.coordinates || [], lon, lat);
    case "MultiPolygon":
      return (geometry.coordinates || []).some((p) => inPolygon(p, lon, lat));
    case "GeometryCollection":
      return (geometry.geometries || []).some((g) => contains(g, lon, lat));
    case "Feature":
      return contains(geometry.geometry, lon, lat);
    default:
      return false;
  }
}

const rank = (a) => (SEVERITY[a.severity] || { rank: 9 }).rank;

/** Within a group: the most urgent first, then the earliest (the original report) first. */
export function compareMembers(a, b) {
  return rank(a) - rank(b) || (a.first_ts || 0) - (b.first_ts || 0) || String(a.id).localeCompare(String(b.id));
}

/**
 * The board's rows: ``[{key, kind, members, lead, incident}]`` in the queue's order (open first,
 * red first, newest first, as compareAlerts), where ``kind`` is "single" (one alert), "place"
 * (same rule and grid) or "incident" (inside the same active incident). ``members`` are in
 * compareMembers' order and ``lead`` is the first of them: the row the group shows.
 *
 * ``incidents``: the active incidents the user may see (id -> incident message with its
 * ``geometry``); ``linked``: alert id -> incident id, from the incidents' timelines.
 */
export function groupAlerts(alerts, incidents = new Map(), linked = new Map()) {
  const active = [...incidents.values()]
    .filter((i) => i && i.status === "active" && i.geometry)
    .sort((a, b) => (a.created_ts || 0) - (b.created_ts || 0) || String(a.id).localeCompare(String(b.id)));
  const buckets = new Map(); // key -> {kind, incident, members}
  const rows = [];
  for (const a of alerts) {
    if (!isOpen(a.status)) {
      rows.push({ key: `alert:${a.id}`, kind: "single", members: [a], lead: a, incident: null });
      continue;
    }
    let incident = null;
    const named = linked.get(a.id);
    if (named && incidents.get(named) && incidents.get(named).status === "active") incident = incidents.get(named);
    if (!incident) incident = active.find((i) => contains(i.geometry, Number(a.lon), Number(a.lat))) || null;
    const key = incident ? `incident:${incident.id}` : `place:${a.category || a.rule || ""}|${a.grid || ""}`;
    let bucket = buckets.get(key);
    if (!bucket) {
      bucket = { key, kind: incident ? "incident" : "place", incident, members: [] };
      buckets.set(key, bucket);
    }
    bucket.members.push(a);
  }
  for (const bucket of buckets.values()) {
    bucket.members.sort(compareMembers);
    bucket.lead = bucket.members[0];
    if (bucket.members.length === 1) {
      rows.push({ key: `alert:${bucket.lead.id}`, kind: "single", members: bucket.members, lead: bucket.lead,
        incident: null });
    } else {
      rows.push(bucket);
    }
  }
  return rows.sort((x, y) => compareAlerts(x.lead, y.lead));
}
