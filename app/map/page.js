// Geotagger map page. Every value coming from Python arrives as JSON text through the QWebChannel and is only ever
// placed into the DOM with textContent (file names and EXIF text are attacker-controlled), never as HTML.
"use strict";
(function () {
  const config = window.GEOTAGGER_CONFIG || {};
  const state = { ready: false, cells: 0, photo: null, others: 0, clusters: 0, lastClick: null };
  window.geotaggerState = state;

  const map = L.map("map", { worldCopyJump: true, minZoom: 1, zoomControl: true }).setView([20, 0], 2);
  const attribution = config.tiles ? config.tiles.attribution : config.offline_attribution;
  map.attributionControl.setPrefix("Leaflet");
  if (config.tiles) {
    L.tileLayer(config.tiles.url, { maxZoom: config.tiles.max_zoom, attribution: attribution }).addTo(map);
  } else {
    map.attributionControl.addAttribution(attribution);
  }
  L.geoJSON(window.GEOTAGGER_WORLD, {
    interactive: false,
    style: { color: "#7c8a7a", weight: 0.8, fillColor: "#eef0e4", fillOpacity: config.tiles ? 0 : 1 },
  }).addTo(map);

  const cellLayer = L.layerGroup().addTo(map);
  const otherLayer = L.layerGroup().addTo(map);
  let marker = null;
  let circle = null;
  let others = [];
  let bridge = null;

  function textElement(tag, text, className) {
    const element = document.createElement(tag);
    element.textContent = String(text);
    if (className) element.className = className;
    return element;
  }

  function cellStyle(probability, maxProbability) {
    const share = maxProbability > 0 ? probability / maxProbability : 0;
    return { color: "#b45309", weight: 1, fillColor: "#f59e0b", fillOpacity: 0.1 + 0.5 * share };
  }

  function drawCells(cells) {
    cellLayer.clearLayers();
    const maxProbability = Math.max(0, ...cells.map((c) => Number(c.probability) || 0));
    for (const cell of cells) {
      const probability = Number(cell.probability) || 0;
      const label = `${cell.label} · ${(100 * probability).toFixed(1)} %`;
      let shape;
      if (Array.isArray(cell.polygon) && cell.polygon.length >= 3) {
        shape = L.polygon(cell.polygon, cellStyle(probability, maxProbability));
      } else {
        shape = L.circle([cell.lat, cell.lon], Object.assign({ radius: (Number(cell.radius_km) || 25) * 1000 },
          cellStyle(probability, maxProbability)));
      }
      shape.bindTooltip(textElement("span", label));
      shape.addTo(cellLayer);
    }
    state.cells = cells.length;
  }

  function placeMarker(photo) {
    if (marker) { map.removeLayer(marker); marker = null; }
    if (circle) { map.removeLayer(circle); circle = null; }
    if (photo.lat === null || photo.lat === undefined) return;
    const position = [photo.lat, photo.lon];
    marker = L.marker(position, { draggable: photo.editable !== false, title: String(photo.name || "") });
    marker.bindTooltip(textElement("span", photo.name || ""));
    marker.on("dragend", () => {
      const at = marker.getLatLng();
      if (bridge) bridge.markerMoved(at.lat, at.lng);
    });
    marker.addTo(map);
    if (photo.radius_km > 0) {
      circle = L.circle(position, { radius: photo.radius_km * 1000, color: "#2563eb", weight: 2, fillOpacity: 0.08,
        interactive: false }).addTo(map);
    }
  }

  function follow(photo) {
    const layers = [];
    if (circle) layers.push(circle);
    else if (marker) layers.push(marker);
    cellLayer.eachLayer((layer) => layers.push(layer));
    if (!layers.length) return;
    const bounds = L.featureGroup(layers).getBounds();
    // The offline outline is drawn at 1:110m: closer than zoom 6 it shows nothing but straight edges.
    const maxZoom = config.tiles ? 14 : 6;
    if (bounds.isValid()) map.fitBounds(bounds.pad(0.2), { maxZoom: maxZoom });
  }

  function showPhoto(text) {
    const photo = JSON.parse(text);
    state.photo = { name: photo.name, lat: photo.lat, lon: photo.lon, radius_km: photo.radius_km };
    drawCells(Array.isArray(photo.cells) ? photo.cells : []);
    placeMarker(photo);
    follow(photo);
  }

  // A light grid clustering: points falling in the same 56-pixel square at the current zoom become one bubble.
  function drawOthers() {
    otherLayer.clearLayers();
    const buckets = new Map();
    for (const point of others) {
      const pixel = map.project([point.lat, point.lon], map.getZoom());
      const key = `${Math.floor(pixel.x / 56)}:${Math.floor(pixel.y / 56)}`;
      if (!buckets.has(key)) buckets.set(key, []);
      buckets.get(key).push(point);
    }
    for (const points of buckets.values()) {
      const lat = points.reduce((sum, p) => sum + p.lat, 0) / points.length;
      const lon = points.reduce((sum, p) => sum + p.lon, 0) / points.length;
      const bubble = textElement("div", points.length, "gt-cluster");
      const size = points.length > 99 ? 34 : 26;
      const icon = L.divIcon({ html: bubble, className: "", iconSize: [size, size] });
      const names = points.slice(0, 5).map((p) => p.name).join("\n") + (points.length > 5 ? "\n…" : "");
      const clusterMarker = L.marker([lat, lon], { icon: icon, keyboard: false });
      clusterMarker.bindTooltip(textElement("pre", names));
      clusterMarker.on("click", () => { if (bridge && points.length === 1) bridge.photoClicked(String(points[0].id)); });
      clusterMarker.addTo(otherLayer);
    }
    state.clusters = buckets.size;
  }

  function showOthers(text) {
    const points = JSON.parse(text);
    others = Array.isArray(points) ? points.filter((p) => Number.isFinite(p.lat) && Number.isFinite(p.lon)) : [];
    state.others = others.length;
    drawOthers();
  }

  map.on("zoomend", drawOthers);
  map.on("click", (event) => {
    state.lastClick = [event.latlng.lat, event.latlng.lng];
    if (bridge) bridge.mapClicked(event.latlng.lat, L.Util.wrapNum(event.latlng.lng, [-180, 180], true));
  });

  window.geotaggerShowPhoto = showPhoto;
  window.geotaggerShowOthers = showOthers;
  // lets tests simulate a click at a position without synthesising mouse events in an offscreen view
  window.geotaggerFireClick = (lat, lon) => map.fire("click", { latlng: L.latLng(lat, lon) });

  if (typeof QWebChannel !== "undefined" && typeof qt !== "undefined") {
    new QWebChannel(qt.webChannelTransport, (channel) => {
      bridge = channel.objects.bridge;
      bridge.showPhoto.connect(showPhoto);
      bridge.showOthers.connect(showOthers);
      state.ready = true;
      bridge.pageReady();
    });
  }
})();
