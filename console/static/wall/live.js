/* zhizhi 智治 — a wall screen's live link: /ws?ticket=...&wall=NAME&last_seq=N.
 *
 * The server's contract (console/api/ws.py): every message has a "type" and an increasing
 * "seq"; a "snapshot" (items: the open alerts and camera statuses the user may see) comes
 * first and whenever the client fell behind or its last_seq could not be resumed; "alert",
 * "camera_status", "tracks" and "wall" messages follow. What this link does with them:
 *
 * - a snapshot replaces the state (it is authoritative: after a server restart its seq may be
 *   lower than the last one seen, and it is applied all the same);
 * - any other message with a seq not above the last applied is a duplicate and is ignored;
 * - on a drop it reconnects with exponential backoff (0.5 s doubling to 15 s, with jitter),
 *   resuming with last_seq so that the server replays exactly what was missed, with a new ticket
 *   (the console may have restarted, its clock moved);
 * - every connection carries a ticket (lib/session.js: short-lived, never the login's token);
 * - close code 4401 (the ticket was refused, or the session ended: a logout, a password
 *   change, the idle timeout) drops the ticket and asks for a new one: refused, the page goes to
 *   the login page (a paired screen to the pairing page: lib/session.js); granted (the ticket
 *   alone was stale, e.g. the console's clock moved), it reconnects, once before giving up.
 *
 * Events (EventTarget): "state" (connection state changed), "snapshot", "alert",
 * "camera_status", "tracks", "vehicles" (hazmat vehicles' newest positions), "drone" (a drone's
 * pose and camera footprint), "incident" (an incident opened, updated or closed), "select" (a
 * wall selection: {alert, cameras, by, receivedAt}), "alerts" (the alert set changed: after a
 * snapshot or an alert message), "preset" (a "wall.preset" message: a rule switched the wall's
 * preset, see presets.js), "silence" (the wall's alarm silenced or sounding again: alarm.js), "error".
 */

import { dropTicket, ticket, token, toLogin } from "../lib/session.js";

const BACKOFF_MIN_MS = 500;
const BACKOFF_MAX_MS = 15_000;
const UNAUTHORIZED = 4401;

export class WallLink extends EventTarget {
  constructor(wall) {
    super();
    this.wall = wall;
    this.state = "connecting";
    this.lastSeq = null;
    this.reconnects = 0;
    this.received = 0;
    this.ignored = 0;
    this.retryAt = null;
    this.attempt = 0;
    this.refusals = 0; // 4401s in a row (lib/session.js's ticket is dropped after the first)
    this.ws = null;
    this.stopped = false;
    this.alerts = new Map(); // id -> alert message (the latest)
    this.cameras = new Map(); // camera_id -> camera_status message
    this.vehicles = new Map(); // vehicle_id -> newest position (with registry facts)
    this.drones = new Map(); // drone_id -> newest "drone" message
    this.incidents = new Map(); // incident id -> newest incident
    this.selection = null;
  }

  start() {
    this.connect();
    return this;
  }

  stop() {
    this.stopped = true;
    if (this.ws) this.ws.close(1000, "page closed");
  }

  setState(state) {
    if (this.state === state) return;
    this.state = state;
    this.dispatchEvent(new CustomEvent("state", { detail: state }));
  }

  url(ticketValue) {
    const params = new URLSearchParams({ ticket: ticketValue, wall: this.wall });
    if (this.lastSeq !== null) params.set("last_seq", String(this.lastSeq));
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    return `${scheme}//${location.host}/ws?${params}`;
  }

  async connect() {
    if (this.stopped) return;
    if (!token()) {
      toLogin();
      return;
    }
    this.retryAt = null;
    let ws;
    try {
      const t = await ticket(); // a refused token goes to the login page there
      if (this.stopped) return;
      ws = new WebSocket(this.url(t));
    } catch (err) {
      if (err && err.status === 401) {
        this.setState("offline");
        return;
      }
      this.scheduleReconnect();
      return;
    }
    this.ws = ws;
    ws.addEventListener("open", () => {
      this.attempt = 0;
      this.setState("live");
    });
    ws.addEventListener("message", (e) => {
      this.refusals = 0; // the console took this connection
      let msg;
      try {
        msg = JSON.parse(e.data);
      } catch (_) {
        return;
      }
      this.receive(msg);
    });
    ws.addEventListener("close", (e) => {
      if (this.ws !== ws) return;
      this.ws = null;
      if (e.code === UNAUTHORIZED) {
        this.refused();
        return;
      }
      if (!this.stopped) this.scheduleReconnect();
    });
  }

  /** The console refused this connection's ticket or ended its session (4401). */
  async refused() {
    this.setState("offline");
    if (this.refusals > 0) {
      toLogin();
      return;
    }
    this.refusals = 1;
    dropTicket();
    try {
      await ticket(); // a refused credential goes to the login (or pairing) page there
    } catch (_) {
      this.refusals = 0;
      this.scheduleReconnect(); // the console is away: try again
      return;
    }
    this.scheduleReconnect();
  }

  scheduleReconnect() {
    dropTicket(); // the connection dropped: the next one carries a ticket of the console as it is now
    const base = Math.min(BACKOFF_MAX_MS, BACKOFF_MIN_MS * 2 ** this.attempt);
    const delay = Math.round(base * (0.75 + Math.random() * 0.5));
    this.attempt += 1;
    this.reconnects += 1;
    this.retryAt = Date.now() + delay;
    this.setState(this.attempt > 6 ? "offline" : "reconnecting");
    setTimeout(() => this.connect(), delay);
  }

  /** Focus an incident on every screen of this wall (incident layout). */
  focusIncident(incidentId) {
    if (!this.ws || this.ws.readyState !== WebSocket.OPEN) return false;
    this.ws.send(JSON.stringify({ type: "wall", action: "focus_incident", incident_id: incidentId }));
    return true;
  }

  /** Send a selection to every screen of this wall (the server answers with a "wall" message). */
  select(alertId) {
    const at = Date.now();
    this.lastSent = { alertId, at };
    if (!this.ws || this.ws.readyState !== WebSocket.OPEN) return false;
    this.ws.send(JSON.stringify({ type: "wall", action: "select_alert", alert_id: alertId }));
    return true;
  }

  receive(msg) {
    if (!msg || typeof msg !== "object") return;
    if (msg.seq === undefined || msg.seq === null) {
      // Errors are for this client only and carry no seq.
      this.dispatchEvent(new CustomEvent("error", { detail: msg }));
      return;
    }
    if (msg.type === "snapshot") {
      this.lastSeq = msg.seq;
      this.received += 1;
      this.applySnapshot(msg);
      return;
    }
    if (this.lastSeq !== null && msg.seq <= this.lastSeq) {
      this.ignored += 1;
      return;
    }
    this.lastSeq = msg.seq;
    this.received += 1;
    switch (msg.type) {
      case "alert":
        this.alerts.set(msg.id, msg);
        this.dispatchEvent(new CustomEvent("alert", { detail: msg }));
        this.dispatchEvent(new CustomEvent("alerts", { detail: { changed: msg } }));
        break;
      case "camera_status":
        this.cameras.set(String(msg.camera_id), msg);
        this.dispatchEvent(new CustomEvent("camera_status", { detail: msg }));
        break;
      case "tracks":
        this.dispatchEvent(new CustomEvent("tracks", { detail: msg }));
        break;
      case "vehicles":
        this.applyVehicles(msg);
        this.dispatchEvent(new CustomEvent("vehicles", { detail: msg }));
        break;
      case "drone":
        this.drones.set(String(msg.drone_id), msg);
        this.dispatchEvent(new CustomEvent("drone", { detail: msg }));
        break;
      case "incident":
        this.applyIncident(msg);
        this.dispatchEvent(new CustomEvent("incident", { detail: msg }));
        break;
      case "wall.preset": // a rule switched the wall's preset (presets.js)
        this.preset = msg;
        this.dispatchEvent(new CustomEvent("preset", { detail: msg }));
        break;
      case "wall":
        if (msg.action === "select_alert" && msg.alert) {
          this.alerts.set(msg.alert.id, Object.assign({}, this.alerts.get(msg.alert.id) || {}, msg.alert));
          this.selection = {
            alert: msg.alert,
            cameras: Array.isArray(msg.cameras) ? msg.cameras : [],
            by: msg.by || "",
            seq: msg.seq,
            receivedAt: Date.now(),
          };
          this.dispatchEvent(new CustomEvent("select", { detail: this.selection }));
        } else if (msg.action === "focus_incident" && msg.incident) {
          this.incidents.set(msg.incident.id, msg.incident);
          this.focus = { incident: msg.incident, by: msg.by || "", seq: msg.seq, receivedAt: Date.now() };
          this.dispatchEvent(new CustomEvent("focus_incident", { detail: this.focus }));
        } else if (msg.action === "tiles" && Array.isArray(msg.tiles)) {
          this.dispatchEvent(new CustomEvent("tiles", { detail: msg })); // the wall's video tiles (tiles.js)
        } else if (msg.action === "silence") {
          this.dispatchEvent(new CustomEvent("silence", { detail: msg })); // the wall's alarm silenced (alarm.js)
        }
        break;
      default:
        break;
    }
  }

  applyVehicles(msg) {
    for (const v of Array.isArray(msg.vehicles) ? msg.vehicles : []) {
      if (v && v.vehicle_id != null) this.vehicles.set(String(v.vehicle_id), v);
    }
  }

  /** Incident messages are the incident's fields ("event": opened, updated, closed) or a
   *  timeline entry ("event": "timeline", which changes nothing here). */
  applyIncident(msg) {
    if (!msg.id || msg.event === "timeline") return;
    this.incidents.set(msg.id, msg);
  }

  applySnapshot(msg) {
    this.alerts.clear();
    this.cameras.clear();
    this.vehicles.clear();
    this.drones.clear();
    this.incidents.clear();
    for (const item of Array.isArray(msg.items) ? msg.items : []) {
      if (item.type === "alert" && item.id) this.alerts.set(item.id, item);
      else if (item.type === "camera_status" && item.camera_id != null) this.cameras.set(String(item.camera_id), item);
      else if (item.type === "vehicles") this.applyVehicles(item);
      else if (item.type === "drone" && item.drone_id != null) this.drones.set(String(item.drone_id), item);
      else if (item.type === "incident") this.applyIncident(item);
    }
    this.dispatchEvent(new CustomEvent("snapshot", { detail: msg }));
    this.dispatchEvent(new CustomEvent("alerts", { detail: { snapshot: true } }));
  }

  cameraState(id) {
    const s = this.cameras.get(String(id));
    return (s && s.state) || "unknown";
  }
}
