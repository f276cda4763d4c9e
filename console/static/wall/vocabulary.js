/* zhizhi 智治 — what the wall's screens call things: severities, alert statuses and the verbs
 * that move them, rules, incident kinds, object classes, sources, verdicts, model states and
 * lifecycle words. (Which status may follow which is the console's: lifecycle.js.)
 *
 * Chinese first: a screen shows ``label``; the English ``en`` only when the deployment turns
 * glosses on (settings.wall.english_glosses; theme.js calls setGlosses). Never a raw
 * identifier: ``say(TABLE, key)`` gives the label of a key, or "其他" for one it does not know. */

import { isOpen } from "./lifecycle.js";

let glosses = false;

/** Whether English glosses are shown (theme.js sets it from /api/config). */
export function setGlosses(on) {
  glosses = Boolean(on);
}
export const glossesOn = () => glosses;

/** An entry's English gloss when glosses are on, else "". */
export const en = (entry) => (glosses && entry && entry.en ? entry.en : "");

/** "标签" or "标签 Gloss" (glosses on): plain text of a vocabulary entry. */
export const text = (entry) => (entry ? entry.label + (en(entry) ? ` ${entry.en}` : "") : "—");

/** The label of ``key`` in ``table`` (a vocabulary table), never the raw key. */
export function say(table, key, fallback = "其他") {
  const entry = table[key];
  if (!entry) return fallback;
  return typeof entry === "string" ? entry : entry.label;
}

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

/** Model versions' states (models/versions.py). */
export const MODEL_STATUS = {
  draft: { label: "草稿", en: "Draft" },
  candidate: { label: "待审", en: "Candidate" },
  production: { label: "生产", en: "Production" },
  retired: { label: "已停用", en: "Retired" },
  archived: { label: "已归档", en: "Archived" },
};

/** Words of an alert's life that the timelines and cards show. */
export const LIFECYCLE = {
  condition_ended: { label: "条件解除", en: "Condition ended" },
  active: { label: "持续中", en: "Ongoing" },
  ended: { label: "已结束", en: "Ended" },
  overdue: { label: "已超时", en: "Overdue" },
  create: { label: "生成告警", en: "Created" },
  transition: { label: "状态变更", en: "Status" },
  escalate: { label: "上报", en: "Escalated" },
  hand_down: { label: "下派", en: "Handed down" },
  reminder: { label: "提醒单", en: "Reminder" },
  supervision: { label: "督办单", en: "Supervision" },
  update: { label: "更新", en: "Updated" },
  procedure: { label: "规程步骤", en: "SOP step" },
  sop_skipped: { label: "跳步办结", en: "Resolved with SOP steps skipped" },
  system: { label: "系统", en: "System" },
};

/** The alert service's audit notes (alerts/service.py) in Chinese: "condition ended" -> 条件解除,
 *  "joined by track 31 of CAM-1" -> "并入：CAM-1 的轨迹 31"; other notes (people's) as written. */
export function noteText(note) {
  if (!note) return "";
  return String(note)
    .replace(/condition active again/g, "条件再现")
    .replace(/condition ended/g, LIFECYCLE.condition_ended.label)
    .replace(/joined by telemetry of ([^;,]+)/g, "并入：北斗车辆 $1")
    .replace(/joined by track (\S+) of ([^;,\s]+)/g, "并入：$2 的轨迹 $1")
    .replace(/joined by track (\S+)/g, "并入：轨迹 $1")
    .replace(/joined by a warning of ([^;,\s]+)/g, "并入：$1 的告警")
    .replace(/joined by a warning/g, "并入：一条告警")
    .replace(/a vehicle/g, "车辆");
}

/** A rule's label; an unknown rule is "其他告警", never its identifier. */
export function ruleLabel(alert) {
  const key = alert.rule || alert.category;
  return RULE[key] || "其他告警";
}

/** A rule's English gloss, "" when glosses are off. */
export function ruleEn(alert) {
  const key = alert.rule || alert.category;
  return glosses ? RULE_EN[key] || "" : "";
}

/** Open alerts first, then severity (red on top), then the newest first. */
export function compareAlerts(a, b) {
  const open = Number(!isOpen(a.status)) - Number(!isOpen(b.status));
  if (open) return open;
  const rank = (SEVERITY[a.severity] || { rank: 9 }).rank - (SEVERITY[b.severity] || { rank: 9 }).rank;
  if (rank) return rank;
  return (b.first_ts || 0) - (a.first_ts || 0) || String(a.id).localeCompare(String(b.id));
}
