/* zhizhi 智治 — how the map draws its layers: fallback styles per layer kind, colours by
 * attribute (zone type, road class, camera status), labels, and the panes (drawing order). */

export const KIND_STYLE = {
  town: { color: "#4fc3f7", weight: 3, opacity: 0.95, fill: false },
  village: { color: "#81d4fa", weight: 1.5, opacity: 0.7, dashArray: "4 4", fill: false },
  grid: { color: "#607d8b", weight: 0.6, opacity: 0.8, fillColor: "#4f6b85", fillOpacity: 0.03 },
  road: { color: "#ffd54f", weight: 2, opacity: 0.85 },
  camera: { color: "#69f0ae", radius: 5 },
  zone: { color: "#ff7043", weight: 1.5, fillOpacity: 0.25 },
  shelter: { color: "#26a69a", radius: 6 },
  polygon: { color: "#b39ddb", weight: 1.5, fillOpacity: 0.15 },
  line: { color: "#f48fb1", weight: 2 },
  point: { color: "#e1bee7", radius: 5 },
};
export const ZONE_COLORS = {
  school: { color: "#f06292", label: "学校 School" },
  residential_core: { color: "#9575cd", label: "居住核心区 Residential core" },
  hazmat_no_stopping: { color: "#ff5252", label: "危化品禁停区 Hazmat no-stopping", dashArray: "6 4" },
  hazmat_parking: { color: "#ff9100", label: "危化品停车场 Hazmat parking" },
};
export const ROAD_CLASSES = {
  expressway: { color: "#ffb74d", weight: 4.5, opacity: 0.95, label: "高速 Expressway" },
  arterial: { weight: 2.6, opacity: 0.9, label: "干道 Arterial" },
  local: { weight: 1.2, opacity: 0.55, label: "乡道 Local" },
};
export const CAMERA_STATUS = {
  online: { color: "#00e676", label: "在线" },
  ok: { color: "#00e676", label: "在线" },
  unknown: { color: null, label: "未知" }, // null: the layer's own colour
  offline: { color: "#ff5252", label: "离线" },
  fault: { color: "#ff5252", label: "故障" },
  maintenance: { color: "#ffb300", label: "维护" },
};
export const KIND_LABEL = {
  district: "区县 District",
  town: "镇街 Town",
  village: "村社区 Village",
  grid: "网格 Grid",
  road: "道路 Road",
  camera: "摄像头 Camera",
  zone: "重点区域 Zone",
  shelter: "避难场所 Shelter",
};
// Drawing order, bottom to top (Leaflet's overlay pane is 400, markers 600, tooltips 650).
export const PANES = {
  "zz-grids": 405,
  "zz-zones": 410,
  "zz-villages": 415,
  "zz-towns": 420,
  "zz-roads": 425,
  "zz-lines": 430,
  "zz-fov": 435,
  "zz-points": 445,
  "zz-pick": 455,
  "zz-highlight": 460,
  "zz-labels": 470,
};
export const KIND_PANE = {
  grid: "zz-grids",
  zone: "zz-zones",
  village: "zz-villages",
  town: "zz-towns",
  road: "zz-roads",
  camera: "zz-points",
  shelter: "zz-points",
};
/** The layer control's order. */
export const KIND_ORDER = ["town", "village", "grid", "zone", "road", "camera", "shelter"];

/** "point", "line" or "polygon": the geometry of a layer of GET /api/layers. */
export function geometryFamily(info) {
  const t = String(info.geometry_type || "").toLowerCase();
  if (t.includes("point")) return "point";
  if (t.includes("line")) return "line";
  return "polygon";
}

/** A layer's own style (GET /api/layers) over the fallback of its kind. */
export function baseStyle(info) {
  const fallback = KIND_STYLE[info.kind] || KIND_STYLE[geometryFamily(info)];
  return Object.assign({}, fallback, info.style || {});
}

/** The status of a camera feature ({color, label}), "unknown" when it names none we know. */
export function cameraStatus(props) {
  return CAMERA_STATUS[String(props.status || "unknown").toLowerCase()] || CAMERA_STATUS.unknown;
}

/** A line or area feature's style: zones by type, roads by class. */
export function featureStyle(info, base, props) {
  const s = Object.assign({}, base);
  if (info.kind === "zone") {
    const z = ZONE_COLORS[props.zone_type];
    if (z) {
      s.color = z.color;
      s.fillColor = z.color;
      if (z.dashArray) s.dashArray = z.dashArray;
    }
    s.fillOpacity = s.fillOpacity == null ? 0.25 : s.fillOpacity;
  } else if (info.kind === "road") {
    const r = ROAD_CLASSES[props.road_class];
    if (r) {
      if (r.color) s.color = r.color;
      s.weight = r.weight;
      s.opacity = r.opacity;
    }
    s.lineCap = "round";
    s.lineJoin = "round";
  }
  return s;
}

/** A point feature's circle marker: cameras by status, shelters ringed. */
export function pointStyle(info, base, props) {
  if (info.kind === "camera") {
    return {
      radius: base.radius || 5,
      color: "#04101c",
      weight: 1.5,
      fillColor: cameraStatus(props).color || base.color,
      fillOpacity: 0.95,
    };
  }
  if (info.kind === "shelter") {
    return {
      radius: base.radius || 6,
      color: "#e0f2f1",
      weight: 2,
      fillColor: base.color,
      fillOpacity: 0.95,
    };
  }
  return {
    radius: base.radius || 5,
    color: "#04101c",
    weight: 1.2,
    fillColor: base.fillColor || base.color,
    fillOpacity: 0.9,
  };
}
