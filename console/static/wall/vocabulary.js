/* zhizhi 智治 — what the wall's screens call things: severities, alert statuses and the verbs
 * that move them, rules, incident kinds, object classes, camera source states. (Which status
 * may follow which is the console's: lifecycle.js.) */

import { isOpen } from "./lifecycle.js";

export const SEVERITY = {
  red: { rank: 0, label: "红色", en: "Red", color: "#ff3b3b" },
  orange: { rank: 1, label: "橙色", en: "Orange", color: "#ff8f1f" },
  yellow: { rank: 2, label: "黄色", en: "Yellow", color: "#ffd600" },
  blue: { rank: 3, label: "蓝色", en: "Blue", color: "#2f8cff" },
};

export const STATUS = {
  new: { label: "新告警", en: "New" },
  acknowledged: { label: "已确认", en: "Acknowledged" },
  dispatched: { label: "已派遣", en: "Dispatched" },
  on_scene: { label: "已到场", en: "On scene" },
  resolved: { label: "已处置", en: "Resolved" },
  closed: { label: "已关闭", en: "Closed" },
  reopened: { label: "已重开", en: "Reopened" },
};

/** Verbs on the board's buttons, per target status. */
export const ACTION = {
  acknowledged: { label: "确认", en: "Ack" },
  dispatched: { label: "派遣", en: "Dispatch" },
  on_scene: { label: "到场", en: "On scene" },
  resolved: { label: "处置完毕", en: "Resolve" },
  closed: { label: "关闭", en: "Close" },
  reopened: { label: "重开", en: "Reopen" },
};

export const RULE = {
  abnormal_stop: "危化品异常停车",
  zone_entry: "闯入禁行区域",
  prohibited_hours: "禁行时段通行",
  speeding: "超速行驶",
  wrong_way: "逆向行驶",
  crowd: "人员聚集",
  route_deviation: "偏离核定路线",
  fatigue: "疲劳驾驶",
  signal_loss: "定位信号中断",
};
export const RULE_EN = {
  abnormal_stop: "Abnormal stop",
  zone_entry: "Prohibited zone",
  prohibited_hours: "Prohibited hours",
  speeding: "Speeding",
  wrong_way: "Wrong way",
  crowd: "Crowd",
  route_deviation: "Off route",
  fatigue: "Fatigue",
  signal_loss: "Signal lost",
};

/** Where an alert's reports came from (an alert's "sources", "source"). */
export const SOURCE = {
  video: { label: "视频", en: "Video" },
  telemetry: { label: "北斗", en: "BeiDou" },
  hotline: { label: "热线", en: "Hotline" },
  grid_worker: { label: "网格员", en: "Grid worker" },
  app: { label: "随手拍", en: "App" },
  iot: { label: "物联感知", en: "IoT" },
};

/** What a closed alert turned out to be (an alert's "verdict"). */
export const VERDICT = {
  false_alarm: { label: "误报", en: "False alarm" },
  duplicate: { label: "重复", en: "Duplicate" },
  confirmed: { label: "属实", en: "Confirmed" },
};

/** The board's bulk actions (POST /api/alerts/bulk) and the single alert's false-alarm close. */
export const BULK = {
  acknowledge: { label: "全部确认", short: "全部确认", en: "Acknowledge all" },
  close_duplicate: { label: "其余作重复关闭", short: "其余重复关闭", en: "Others: duplicates" },
  close_false_alarm: { label: "全部误报关闭", short: "全部误报关闭", en: "All: false alarms" },
};
export const FALSE_ALARM_CLOSE = { label: "误报关闭", en: "Close as false alarm" };

/** Kinds of incidents (alerts/incidents/record.py). */
export const INCIDENT = {
  typhoon: { label: "台风", en: "Typhoon" },
  flood: { label: "洪涝", en: "Flood" },
  rainstorm: { label: "暴雨", en: "Rainstorm" },
  fire: { label: "火灾", en: "Fire" },
  chemical_leak: { label: "危化品泄漏", en: "Chemical leak" },
  other: { label: "突发事件", en: "Incident" },
};

export { CLASS, CLASS_OTHER } from "../lib/classes.js"; // the cameras page names them too

/** Camera source states of video/status.py (and "unknown": nothing heard yet). */
export const CAMERA_STATE = {
  online: { label: "在线", en: "Online", color: "#00e676" },
  starting: { label: "连接中", en: "Starting", color: "#4fc3f7" },
  reconnecting: { label: "重连中", en: "Reconnecting", color: "#ffb300" },
  offline: { label: "离线", en: "Offline", color: "#ff5252" },
  unknown: { label: "未知", en: "Unknown", color: "#78909c" },
};

export function ruleLabel(alert) {
  const key = alert.rule || alert.category;
  return RULE[key] || key || "—";
}

export function ruleEn(alert) {
  const key = alert.rule || alert.category;
  return RULE_EN[key] || "";
}

/** Open alerts first, then severity (red on top), then the newest first. */
export function compareAlerts(a, b) {
  const open = Number(!isOpen(a.status)) - Number(!isOpen(b.status));
  if (open) return open;
  const rank = (SEVERITY[a.severity] || { rank: 9 }).rank - (SEVERITY[b.severity] || { rank: 9 }).rank;
  if (rank) return rank;
  return (b.first_ts || 0) - (a.first_ts || 0) || String(a.id).localeCompare(String(b.id));
}
