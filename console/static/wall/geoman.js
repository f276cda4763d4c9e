/* zhizhi 智治 — Leaflet-Geoman (the wall's drawing tool, 590 KB of script) loaded when it is first
 * needed, not with the map: the map screen's first load stays light (issue 19). loadGeoman(map)
 * adds its stylesheet and script from /static/vendor/leaflet-geoman/ once and gives the map its
 * ``map.pm`` (Geoman only equips maps made after it loaded). */

const BASE = "/static/vendor/leaflet-geoman/leaflet-geoman";
let loading = null;

function addScript() {
  return new Promise((resolve, reject) => {
    const css = document.createElement("link");
    css.rel = "stylesheet";
    css.href = `${BASE}.css`;
    document.head.appendChild(css);
    const script = document.createElement("script");
    script.src = `${BASE}.js`;
    script.onload = () => (window.L && L.PM ? resolve() : reject(new Error("Leaflet-Geoman did not define L.PM")));
    script.onerror = () => reject(new Error(`Leaflet-Geoman did not load (${BASE}.js)`));
    document.head.appendChild(script);
  });
}

/** ``map.pm`` once Leaflet-Geoman is loaded (loaded once per page). */
export function loadGeoman(map) {
  if (!loading) loading = addScript();
  return loading.then(() => {
    if (!map.pm) {
      map.pm = new L.PM.Map(map);
      map.pm.setGlobalOptions({});
    }
    return map.pm;
  });
}
