// The pages' map (Leaflet, vendored): residents' last positions, an alert's position with its
// accuracy circle, the resident's geofences and recent track.
// Coordinates come from the API already in the datum of the tile source (`datum=` on every
// request), so the page never converts: GCJ-02 exactly where the tiles need it.
// Without a reachable tile server the shapes still draw, on a blank background.
"use strict";

const DEFAULT_VIEW = { centre: [39.9042, 116.4074], zoom: 12 };
const STYLE = {
  resident: { radius: 5, color: "#1d5fa8", weight: 1, fillOpacity: 0.8, className: "resident-dot" },
  alerting: { radius: 7, color: "#c0141c", weight: 2, fillOpacity: 0.9, className: "resident-dot alerting" },
  position: { radius: 8, color: "#c0141c", weight: 3, fillOpacity: 1, className: "alert-position" },
  accuracy: { color: "#c0141c", weight: 1, fillOpacity: 0.12, className: "accuracy-circle" },
  fence: { color: "#1d7a3a", weight: 2, fillOpacity: 0.06, dashArray: "6 4", className: "fence" },
  track: { color: "#6a3fb5", weight: 3, opacity: 0.8, className: "track" },
};

/** The tile source the server is configured with ({tile_url, subdomains, datum, ...}). */
export async function mapConfig() {
  const response = await fetch("/map/config.json");
  return response.ok ? response.json() : { tile_url: "", datum: "wgs84", max_zoom: 18 };
}

export class MapView {
  constructor(element, config) {
    const L = window.L;
    this.element = element;
    this.config = config;
    this.map = L.map(element, { zoomControl: true, attributionControl: Boolean(config.tile_url) })
      .setView(DEFAULT_VIEW.centre, DEFAULT_VIEW.zoom);
    if (config.tile_url) {
      L.tileLayer(config.tile_url, {
        subdomains: config.subdomains || "abc",
        maxZoom: config.max_zoom || 18,
        attribution: config.attribution || "",
      }).addTo(this.map);
    }
    this.residents = L.layerGroup().addTo(this.map);
    this.focus = L.featureGroup().addTo(this.map);
    this.fitted = false;
  }

  get datum() {
    return this.config.datum || "wgs84";
  }

  /** Dots for residents' last positions; alerting ones red; a click calls onPick(resident). */
  setResidents(rows, alertingIds, onPick) {
    const L = window.L;
    this.residents.clearLayers();
    const points = [];
    for (const row of rows) {
      const fix = row.location && row.location.fix;
      if (!fix) continue;
      const style = alertingIds.has(row.resident_id) ? STYLE.alerting : STYLE.resident;
      const dot = L.circleMarker([fix.lat, fix.lon], style).bindTooltip(row.full_name);
      if (onPick) dot.on("click", () => onPick(row));
      dot.addTo(this.residents);
      points.push([fix.lat, fix.lon]);
    }
    this.element.dataset.residents = String(points.length);
    if (!this.fitted && points.length) {
      this.map.fitBounds(L.latLngBounds(points).pad(0.1));
      this.fitted = true;
    }
  }

  /** One resident's picture: position (with accuracy), fences and track; the view fits it. */
  showFocus({ position, fences = [], track = [] }) {
    const L = window.L;
    this.focus.clearLayers();
    for (const fence of fences) {
      const g = fence.geometry;
      if (g.type === "Point") {
        L.circle([g.coordinates[1], g.coordinates[0]], { ...STYLE.fence, radius: fence.radius_m })
          .bindTooltip(fence.name).addTo(this.focus);
      } else {
        L.polygon(g.coordinates[0].map(([lon, lat]) => [lat, lon]), STYLE.fence)
          .bindTooltip(fence.name).addTo(this.focus);
      }
    }
    if (track.length > 1) L.polyline(track.map((f) => [f.lat, f.lon]), STYLE.track).addTo(this.focus);
    if (position) {
      if (position.acc_m) {
        L.circle([position.lat, position.lon], { ...STYLE.accuracy, radius: position.acc_m }).addTo(this.focus);
      }
      L.circleMarker([position.lat, position.lon], STYLE.position).addTo(this.focus);
    }
    this.element.dataset.fences = String(fences.length);
    this.element.dataset.track = String(track.length);
    this.element.dataset.position = position ? "1" : "0";
    const bounds = this.focus.getBounds();
    if (bounds.isValid()) this.map.fitBounds(bounds.pad(0.15), { maxZoom: 17 });
  }

  clearFocus() {
    this.focus.clearLayers();
  }

  resize() {
    this.map.invalidateSize();
  }
}
