/* zhizhi 智治 — the detector's object classes as every page names them (video/observation.py
 * CLASSES), with their colours on the wall's maps and tiles. */

export const CLASS = {
  hazmat_tanker: { label: "危化品车", en: "Hazmat tanker", color: "#ff6d00" },
  truck: { label: "货车", en: "Truck", color: "#b388ff" },
  bus: { label: "客车", en: "Bus", color: "#40c4ff" },
  car: { label: "小汽车", en: "Car", color: "#e0f7fa" },
  person: { label: "行人", en: "Person", color: "#69f0ae" },
};
export const CLASS_OTHER = { label: "其他", en: "Other", color: "#b0bec5" };
