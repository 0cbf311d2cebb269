// The exported trip map: photo markers with thumbnail pop-ups and GPS tracks over the offline basemap. Every
// string (file names, EXIF) enters the DOM as textContent; thumbnails only as data:image/jpeg URIs.
"use strict";
(function () {
  const map = window.GEOTAGGER_MAP;
  const trip = window.GEOTAGGER_TRIP || { photos: [], tracks: [] };
  const config = window.GEOTAGGER_CONFIG || {};
  const state = { markers: 0, tracks: 0, ready: false };
  window.geotaggerTrip = state;
  window.geotaggerBasemap(map, {});
  map.attributionControl.setPrefix("Leaflet");
  map.attributionControl.addAttribution(config.offline_attribution || "");
  const colours = { has_gps: "#2563eb", proposed: "#f59e0b", accepted: "#16a34a", written: "#0d9488" };
  const bounds = L.latLngBounds([]);

  function popup(photo) {
    const box = document.createElement("div");
    box.className = "gt-popup";
    if (typeof photo.thumbnail === "string" && photo.thumbnail.startsWith("data:image/jpeg;base64,")) {
      const image = document.createElement("img");
      image.src = photo.thumbnail;
      image.alt = "";
      box.appendChild(image);
    }
    for (const line of [photo.name, photo.taken, `${photo.state_label} (${photo.source})`]) {
      if (line) box.appendChild(Object.assign(document.createElement("div"), { textContent: String(line) }));
    }
    return box;
  }
  for (const track of trip.tracks || []) {
    for (const segment of track.segments || []) {
      const line = L.polyline(segment, { color: "#c2410c", weight: 3, opacity: 0.85 }).addTo(map);
      line.bindTooltip(Object.assign(document.createElement("span"), { textContent: String(track.name) }));
      bounds.extend(line.getBounds());
    }
    state.tracks += 1;
  }
  for (const photo of trip.photos || []) {
    if (!Number.isFinite(photo.lat) || !Number.isFinite(photo.lon)) continue;
    const colour = colours[photo.state] || "#6b7280";
    const marker = L.circleMarker([photo.lat, photo.lon], { radius: 7, color: colour, weight: 2,
      fillColor: photo.state === "proposed" ? "#ffffff" : colour, fillOpacity: 0.9, className: "gt-photo" });
    marker.bindPopup(() => popup(photo), { maxWidth: 240 });
    marker.addTo(map);
    bounds.extend(marker.getLatLng());
    state.markers += 1;
  }
  if (bounds.isValid()) map.fitBounds(bounds.pad(0.2), { maxZoom: 10, animate: false });
  if (trip.title) document.title = String(trip.title);
  // What a test (or a suspicious reader) checks: how many resources the page loaded from outside the file.
  const remote = performance.getEntriesByType("resource").filter((e) => !/^(data|file|blob):/.test(e.name));
  document.body.setAttribute("data-gt-remote-resources", String(remote.length));
  state.ready = true;
})();
