/* zhizhi 智治 — live tracks on the wall's map ("tracks" messages): a small dot per object coloured
 * by its class, hazmat tankers as an orange 危 diamond; a track not heard of for TRACK_FRESH_S
 * fades (to a fifth at TRACK_FADED_S) and goes after TRACK_GONE_S.
 *
 * createTrackLayer(map, link, onChange) returns {group, tracks, fade()}: the layer group, the
 * tracks by "camera/track" ({marker, seenAt, track, hazmat}), and the fading step (run every
 * second; the tests call it after ageing a track). ``onChange`` follows every update.
 */

import { esc } from "../lib/dom.js";
import { CLASS, CLASS_OTHER } from "./vocabulary.js";

const TRACK_FRESH_S = 5;
const TRACK_FADED_S = 20;
const TRACK_GONE_S = 60;

function trackMarker(t) {
  const hazmat = t.cls === "hazmat_tanker";
  const ll = [t.lat, t.lon];
  if (hazmat) {
    return L.marker(ll, {
      pane: "zw-tracks",
      keyboard: false,
      icon: L.divIcon({ className: "zw-track zw-track-hazmat", html: "<span>危</span>", iconSize: [24, 24] }),
    });
  }
  const c = (CLASS[t.cls] || CLASS_OTHER).color;
  return L.circleMarker(ll, {
    pane: "zw-tracks",
    radius: t.cls === "person" ? 3.5 : 5,
    color: "#04101c",
    weight: 1.5,
    fillColor: c,
    fillOpacity: 0.95,
    className: `zw-track zw-track-${String(t.cls || "other").replace(/[^\w-]/g, "")}`,
  });
}

function trackTip(t) {
  const c = CLASS[t.cls] || CLASS_OTHER;
  const speed = Number.isFinite(t.speed_kmh) ? `${Math.round(t.speed_kmh)} km/h` : "速度未知";
  return (
    `<div class="zz-tip-kind">实时目标 Live track</div>` +
    `<div class="zz-tip-name">${esc(c.label)} <small>${esc(c.en)}</small></div>` +
    `<div class="zz-tip-extra">#${esc(t.track_id)} · ${esc(speed)}</div>`
  );
}

function setTrackOpacity(entry, opacity) {
  if (entry.opacity === opacity) return;
  entry.opacity = opacity;
  if (entry.hazmat) entry.marker.setOpacity(opacity);
  else entry.marker.setStyle({ opacity, fillOpacity: 0.95 * opacity });
  const el = entry.marker.getElement && entry.marker.getElement();
  if (el) el.classList.toggle("zw-stale", opacity < 1);
}

export function createTrackLayer(map, link, onChange = () => {}) {
  const group = L.layerGroup().addTo(map);
  const tracks = new Map(); // "camera/track" -> {marker, seenAt, track, hazmat, opacity}

  function update(msg) {
    const now = Date.now();
    for (const t of msg.tracks || []) {
      if (!Number.isFinite(t.lat) || !Number.isFinite(t.lon)) continue;
      const key = `${msg.camera_id}/${t.track_id}`;
      let entry = tracks.get(key);
      const hazmat = t.cls === "hazmat_tanker";
      if (entry && entry.hazmat !== hazmat) {
        group.removeLayer(entry.marker);
        entry = null;
      }
      if (!entry) {
        const created = { marker: trackMarker(t), hazmat };
        created.marker.bindTooltip(() => trackTip(created.track), { direction: "top", className: "zz-tip", opacity: 1 });
        group.addLayer(created.marker);
        tracks.set(key, created);
        entry = created;
      } else {
        entry.marker.setLatLng([t.lat, t.lon]);
        if (!hazmat) entry.marker.setStyle({ fillColor: (CLASS[t.cls] || CLASS_OTHER).color });
      }
      entry.track = t;
      entry.seenAt = now;
      setTrackOpacity(entry, 1);
    }
    onChange();
  }

  function fade() {
    const now = Date.now();
    for (const [key, entry] of tracks) {
      const age = (now - entry.seenAt) / 1000;
      if (age > TRACK_GONE_S) {
        group.removeLayer(entry.marker);
        tracks.delete(key);
        continue;
      }
      const opacity =
        age <= TRACK_FRESH_S ? 1 : Math.max(0.2, 1 - (0.8 * (age - TRACK_FRESH_S)) / (TRACK_FADED_S - TRACK_FRESH_S));
      setTrackOpacity(entry, Math.round(opacity * 20) / 20);
    }
    onChange();
  }

  link.addEventListener("tracks", (e) => update(e.detail));
  setInterval(fade, 1000);
  return { group, tracks, fade };
}
