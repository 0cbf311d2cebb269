// Geotagger's live layer on the map folium made (window.GEOTAGGER_MAP): photos, the selected photo's proposal,
// tracks and search results arrive from Python as JSON text through the QWebChannel; clicks, drags and tile
// requests go back. File names and EXIF text are attacker-controlled: they only enter the DOM as textContent.
"use strict";
(function () {
  const config = window.GEOTAGGER_CONFIG || {};
  const map = window.GEOTAGGER_MAP;
  const styles = config.styles || {};
  const state = { ready: false, cells: 0, highlighted: null, photo: null, others: 0, clusters: 0, markers: 0,
    tracks: 0, ticks: 0, lastClick: null, tilesLoaded: 0, tilesFailed: 0, message: "", archiveTiles: 0,
    followed: false, searched: null, vectorFeatures: 0, vectorErrors: 0 };
  window.geotaggerState = state;
  let bridge = null;

  const basemap = window.geotaggerBasemap(map, {});
  state.basemap = basemap.state;
  window.geotaggerBasemapLayer = basemap; // the tests read its canvas
  map.attributionControl.setPrefix("Leaflet");
  map.attributionControl.addAttribution(config.offline_attribution || "");

  function escapeHtml(text) { // Leaflet puts attributions in as HTML; an archive's metadata is the user's file
    const element = document.createElement("span");
    element.textContent = String(text || "");
    return element.innerHTML;
  }

  function textElement(tag, text, className) {
    const element = document.createElement(tag);
    element.textContent = String(text);
    if (className) element.className = className;
    return element;
  }

  // ----- messages and legend -----
  const messageBox = L.DomUtil.create("div", "gt-message");
  messageBox.style.display = "none";
  const MessageControl = L.Control.extend({ onAdd: () => messageBox });
  new MessageControl({ position: "topright" }).addTo(map);
  let messageTimer = null;
  function showMessage(text, seconds) {
    messageBox.textContent = String(text || "");
    messageBox.style.display = text ? "" : "none";
    state.message = String(text || "");
    if (messageTimer) clearTimeout(messageTimer);
    if (text && seconds) messageTimer = setTimeout(() => showMessage(""), seconds * 1000);
  }
  const legend = L.DomUtil.create("div", "gt-legend");
  for (const key of Object.keys(styles)) {
    const row = document.createElement("div");
    const swatch = textElement("span", "", "gt-swatch");
    swatch.style.background = styles[key].fill ? styles[key].color : "white";
    swatch.style.border = `2px solid ${styles[key].color}`;
    row.appendChild(swatch);
    row.appendChild(document.createTextNode(String(styles[key].label)));
    legend.appendChild(row);
  }
  const LegendControl = L.Control.extend({ onAdd: () => legend });
  if (Object.keys(styles).length) new LegendControl({ position: "bottomleft" }).addTo(map);

  // ----- online tiles (opt-in) and the user's tile archive -----
  if (config.tiles) {
    const tiles = L.tileLayer(config.tiles.url, { maxZoom: config.tiles.max_zoom, attribution: config.tiles.attribution });
    tiles.on("tileload", () => { state.tilesLoaded += 1; if (state.tilesLoaded === 1) basemap.setLabels(false); });
    tiles.on("tileerror", () => {
      state.tilesFailed += 1;
      if (state.tilesLoaded === 0) {
        basemap.setLabels(true);
        showMessage(`${config.tiles.name} cannot be reached: showing the offline map.`);
      }
    });
    tiles.addTo(map);
    showMessage(`Online map: ${config.tiles.name}. The positions you view are sent to its server.`, 8);
  }
  // A vector archive's tiles arrive from Python as base64 (bridge.vectorTile) and are decoded here with the
  // vendored VectorGrid bundle's Pbf and VectorTile: no URL is ever fetched. Layers are styled by their usual names
  // (OpenMapTiles, Shortbread, Protomaps basemaps); anything else is drawn as thin grey lines; labels and POIs are
  // left to our own place labels (VectorGrid draws no text).
  const VECTOR_STYLES = [ // first match wins: labels before the layers whose names they extend (water_name)
    [/(label|name|place|poi|housenumber|address|mountain_peak|aerodrome)/, []],
    [/^(waterway|water_lines|river|stream|physical_line)/, { color: "#6fa3d3", weight: 1.5, fill: false }],
    [/^(water|ocean|lake|sea|water_polygons)$/, { fill: true, fillColor: "#aacbe3", fillOpacity: 1, stroke: false }],
    [/^(earth|land)$/, { fill: true, fillColor: "#eef0e4", fillOpacity: 1, stroke: false }],
    [/^(park|landcover|landuse|natural|green|wood|forest|sites)/,
      { fill: true, fillColor: "#d6e8c8", fillOpacity: 0.7, stroke: false }],
    [/^(building|buildings)/, { fill: true, fillColor: "#ddd3c9", fillOpacity: 0.9, color: "#c5b8ab", weight: 0.5 }],
    [/^(transportation|road|roads|street|streets|highway|railway|rail|transit|aerialways|public_transport)/,
      [{ color: "#b8aea3", weight: 4, lineCap: "round", fill: false },
        { color: "#ffffff", weight: 2.5, lineCap: "round", fill: false }]],
    [/^(boundary|boundaries|admin)/, { color: "#9e7fa3", weight: 1, dashArray: "4 3", fill: false }],
  ];
  function vectorStyle(layerName) {
    const name = String(layerName).toLowerCase();
    const found = VECTOR_STYLES.find(([pattern]) => pattern.test(name));
    const style = found ? found[1] : { color: "#8a8a8a", weight: 1, radius: 2, fill: false };
    return () => { state.vectorFeatures += 1; return style; };
  }
  function decodeVectorTile(base64) {
    const binary = atob(base64);
    const bytes = new Uint8Array(binary.length);
    for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
    const tile = new VectorTile(new Pbf(bytes));
    for (const name of Object.keys(tile.layers)) {
      const layer = tile.layers[name];
      layer.features = [];
      for (let i = 0; i < layer.length; i++) {
        const feature = layer.feature(i);
        feature.geometry = feature.loadGeometry();
        layer.features.push(feature);
      }
    }
    return tile;
  }
  function addVectorArchiveLayer(archive, options) {
    if (!L.VectorGrid || typeof VectorTile === "undefined" || typeof Pbf === "undefined") {
      showMessage(`${archive.name}: the vector tile decoder is missing; showing the offline map.`);
      return;
    }
    const VectorArchive = L.VectorGrid.extend({
      _getVectorTilePromise(coords) {
        return new Promise((resolve) => {
          bridge.vectorTile(coords.z, coords.x, coords.y, (text) => {
            if (typeof text !== "string" || !text) { resolve({ layers: {} }); return; }
            try {
              const tile = decodeVectorTile(text);
              state.archiveTiles += 1;
              resolve(tile);
            } catch (error) {
              state.vectorErrors += 1;
              resolve({ layers: {} });
            }
          });
        });
      },
    });
    const styles = new Proxy({}, { get: (target, name) => (typeof name === "string" ? vectorStyle(name) : undefined) });
    new VectorArchive(Object.assign(options, { vectorTileLayerStyles: styles, interactive: false }))
      .addTo(map);
  }
  function addArchiveLayer() {
    const archive = config.archive;
    if (!archive) return;
    if (archive.vector) {
      const options = { minZoom: archive.min_zoom, maxNativeZoom: archive.max_zoom, maxZoom: 19,
        attribution: escapeHtml(archive.attribution || archive.name) };
      if (archive.bounds) {
        options.bounds = [[archive.bounds[1], archive.bounds[0]], [archive.bounds[3], archive.bounds[2]]];
      }
      addVectorArchiveLayer(archive, options);
      showMessage(`Offline vector tiles: ${archive.name}`, 6);
      return;
    }
    const ArchiveLayer = L.GridLayer.extend({
      createTile(coords, done) {
        const tile = document.createElement("img");
        tile.alt = "";
        bridge.tile(coords.z, coords.x, coords.y, (uri) => {
          if (typeof uri === "string" && uri.startsWith("data:image/")) {
            tile.onload = () => done(null, tile);
            tile.onerror = () => done(null, tile);
            tile.src = uri;
            state.archiveTiles += 1;
          } else {
            done(null, tile);
          }
        });
        return tile;
      },
    });
    const options = { minZoom: archive.min_zoom, maxNativeZoom: archive.max_zoom, maxZoom: 19,
      attribution: escapeHtml(archive.attribution || archive.name) };
    if (archive.bounds) options.bounds = [[archive.bounds[1], archive.bounds[0]], [archive.bounds[3], archive.bounds[2]]];
    new ArchiveLayer(options).addTo(map);
    showMessage(`Offline tiles: ${archive.name}`, 6);
  }

  // ----- the selected photo: its proposal cells, marker and radius -----
  const cellLayer = L.layerGroup().addTo(map);
  const trackLayer = L.layerGroup().addTo(map);
  const otherLayer = L.layerGroup().addTo(map);
  const searchLayer = L.layerGroup().addTo(map);
  let marker = null;
  let circle = null;
  let others = new Map(); // photo id -> {id, name, lat, lon, state, source}

  function drawCells(cells) {
    cellLayer.clearLayers();
    state.highlighted = null;
    const maxProbability = Math.max(0, ...cells.map((c) => Number(c.probability) || 0));
    for (const cell of cells) {
      const probability = Number(cell.probability) || 0;
      const share = maxProbability > 0 ? probability / maxProbability : 0;
      const style = cell.selected
        ? { color: "#1d4ed8", weight: 3, fillColor: "#3b82f6", fillOpacity: 0.25 }
        : { color: "#b45309", weight: 1, fillColor: "#f59e0b", fillOpacity: 0.08 + 0.3 * share };
      let shape;
      if (Array.isArray(cell.polygon) && cell.polygon.length >= 3) shape = L.polygon(cell.polygon, style);
      else shape = L.circle([cell.lat, cell.lon], Object.assign({ radius: (Number(cell.radius_km) || 25) * 1000 }, style));
      shape.bindTooltip(textElement("span", `${cell.label} · ${(100 * probability).toFixed(1)} %`));
      shape.addTo(cellLayer);
      if (cell.selected) { shape.bringToFront(); state.highlighted = String(cell.label); }
    }
    state.cells = cells.length;
  }

  function wrapped(latlng) {
    return [latlng.lat, L.Util.wrapNum(latlng.lng, [-180, 180], true)];
  }

  function placeMarker(photo) {
    if (marker) { map.removeLayer(marker); marker = null; }
    if (circle) { map.removeLayer(circle); circle = null; }
    if (photo.lat === null || photo.lat === undefined) return;
    const position = [photo.lat, photo.lon];
    marker = L.marker(position, { draggable: photo.editable !== false, title: String(photo.name || ""),
      zIndexOffset: 1000, autoPan: true });
    marker.bindTooltip(textElement("span", photo.name || ""));
    marker.on("dragend", () => {
      const at = wrapped(marker.getLatLng());
      if (bridge) bridge.markerMoved(at[0], at[1]);
    });
    marker.addTo(map);
    if (photo.radius_km > 0) {
      circle = L.circle(position, { radius: photo.radius_km * 1000, color: "#2563eb", weight: 2, fillOpacity: 0.08,
        interactive: false }).addTo(map);
    }
  }

  // The view follows the selection only when it must: a first photo, or one out of view. Otherwise the user's
  // zoom stays as it is (reviewing neighbours of a town keeps the town on screen).
  function follow() {
    const layers = [];
    if (circle) layers.push(circle);
    else if (marker) layers.push(marker);
    else cellLayer.eachLayer((layer) => layers.push(layer));
    if (!layers.length) return;
    const target = L.featureGroup(layers).getBounds();
    if (!target.isValid()) return;
    const maxZoom = Number(config.follow_max_zoom) || 11;
    if (!state.followed) {
      state.followed = true;
      map.fitBounds(target.pad(0.3), { maxZoom: maxZoom, animate: false });
      return;
    }
    if (map.getBounds().contains(target)) return;
    const zoom = map.getZoom();
    const size = map.getSize();
    const north = map.project(target.getNorthWest(), zoom);
    const south = map.project(target.getSouthEast(), zoom);
    if (Math.abs(south.x - north.x) < size.x * 0.8 && Math.abs(south.y - north.y) < size.y * 0.8) {
      map.panTo(target.getCenter(), { animate: false });
    } else {
      map.fitBounds(target.pad(0.2), { maxZoom: Math.min(maxZoom, zoom), animate: false });
    }
  }

  function showPhoto(text) {
    const photo = JSON.parse(text);
    state.photo = { id: photo.id, name: photo.name, lat: photo.lat, lon: photo.lon, radius_km: photo.radius_km };
    drawCells(Array.isArray(photo.cells) ? photo.cells : []);
    placeMarker(photo);
    follow();
    drawOthers();
  }

  // ----- every other photo, styled by state; a light grid clustering where they crowd -----
  function photoStyle(point) {
    const style = styles[point.style] || styles[point.state] || { color: "#6b7280", fill: true };
    return { radius: 6, color: style.color, weight: 2, fillColor: style.fill ? style.color : "#ffffff",
      fillOpacity: 0.9, bubblingMouseEvents: false };
  }
  function drawOthers() {
    otherLayer.clearLayers();
    const selectedId = state.photo ? String(state.photo.id) : null;
    const buckets = new Map();
    for (const point of others.values()) {
      if (String(point.id) === selectedId) continue;
      const pixel = map.project([point.lat, point.lon], map.getZoom());
      const key = `${Math.floor(pixel.x / 28)}:${Math.floor(pixel.y / 28)}`;
      if (!buckets.has(key)) buckets.set(key, []);
      buckets.get(key).push(point);
    }
    state.markers = 0;
    for (const points of buckets.values()) {
      if (points.length === 1) {
        const point = points[0];
        const dot = L.circleMarker([point.lat, point.lon], photoStyle(point));
        dot.gtId = String(point.id);
        dot.bindTooltip(textElement("span", point.name));
        dot.on("click", (event) => {
          if (event.originalEvent) L.DomEvent.stop(event);
          if (bridge) bridge.photoClicked(String(point.id));
        });
        dot.addTo(otherLayer);
        state.markers += 1;
        continue;
      }
      const lat = points.reduce((sum, p) => sum + p.lat, 0) / points.length;
      const lon = points.reduce((sum, p) => sum + p.lon, 0) / points.length;
      const size = points.length > 99 ? 34 : 26;
      const icon = L.divIcon({ html: textElement("div", points.length, "gt-cluster"), className: "",
        iconSize: [size, size] });
      const names = points.slice(0, 5).map((p) => p.name).join("\n") + (points.length > 5 ? "\n…" : "");
      const bubble = L.marker([lat, lon], { icon: icon, keyboard: false });
      bubble.bindTooltip(textElement("pre", names));
      bubble.on("click", () => map.setView([lat, lon], Math.min(map.getZoom() + 2, 18)));
      bubble.addTo(otherLayer);
    }
    state.clusters = buckets.size;
  }
  // A list replaces every marker; {changed: [...], removed: [ids]} updates only those (20,000 markers are
  // megabytes of JSON through the channel: while predictions stream in, only the changed rows are sent).
  function keepPoint(point) {
    if (!point || typeof point !== "object") return;
    const id = String(point.id);
    if (Number.isFinite(point.lat) && Number.isFinite(point.lon)) others.set(id, point);
    else others.delete(id);
  }
  function showOthers(text) {
    const data = JSON.parse(text);
    if (Array.isArray(data)) {
      others = new Map();
      data.forEach(keepPoint);
    } else if (data && typeof data === "object") {
      for (const id of Array.isArray(data.removed) ? data.removed : []) others.delete(String(id));
      (Array.isArray(data.changed) ? data.changed : []).forEach(keepPoint);
    }
    state.others = others.size;
    drawOthers();
  }

  // ----- GPS tracks with time ticks -----
  function showTracks(text) {
    const tracks = JSON.parse(text);
    trackLayer.clearLayers();
    state.tracks = 0;
    state.ticks = 0;
    const bounds = L.latLngBounds([]);
    for (const track of Array.isArray(tracks) ? tracks : []) {
      for (const segment of track.segments || []) {
        const line = L.polyline(segment, { color: "#c2410c", weight: 3, opacity: 0.85, bubblingMouseEvents: false });
        line.bindTooltip(textElement("span", `${track.name} · ${track.start} – ${track.end}`));
        line.addTo(trackLayer);
        bounds.extend(line.getBounds());
      }
      for (const tick of track.ticks || []) {
        const dot = L.circleMarker([tick.lat, tick.lon], { radius: 3, color: "#7c2d12", weight: 1, fillOpacity: 1,
          interactive: false });
        dot.bindTooltip(textElement("span", tick.label), { permanent: true, direction: "right", className: "gt-tick",
          offset: [4, 0] });
        dot.addTo(trackLayer);
        state.ticks += 1;
      }
      state.tracks += 1;
    }
    if (bounds.isValid()) { map.fitBounds(bounds.pad(0.15), { animate: false }); state.followed = true; }
  }

  // ----- a place found by the search box -----
  function goTo(text) {
    const place = JSON.parse(text);
    if (!Number.isFinite(place.lat) || !Number.isFinite(place.lon)) return;
    searchLayer.clearLayers();
    const ring = L.circleMarker([place.lat, place.lon], { radius: 10, color: "#dc2626", weight: 3, fill: false });
    if (place.label) ring.bindTooltip(textElement("span", place.label), { permanent: true, direction: "top" });
    ring.addTo(searchLayer);
    map.setView([place.lat, place.lon], Number(place.zoom) || 11, { animate: false });
    state.followed = true;
    state.searched = String(place.label || "");
  }

  map.on("zoomend", drawOthers);
  map.on("click", (event) => {
    const at = wrapped(event.latlng);
    state.lastClick = at;
    if (bridge) bridge.mapClicked(at[0], at[1]);
  });

  window.geotaggerShowPhoto = showPhoto;
  window.geotaggerShowOthers = showOthers;
  window.geotaggerShowTracks = showTracks;
  window.geotaggerGoTo = goTo;
  // let tests act as the user would without synthesising mouse events in an offscreen view
  window.geotaggerFireClick = (lat, lon) => map.fire("click", { latlng: L.latLng(lat, lon) });
  window.geotaggerClickPhoto = (id) => {
    let hit = false;
    otherLayer.eachLayer((layer) => {
      if (!hit && layer.gtId === String(id)) { layer.fire("click"); hit = true; }
    });
    return hit;
  };
  window.geotaggerOtherIds = () => Array.from(others.keys()).sort(); // what the layer holds, clustered or not
  window.geotaggerDragMarkerTo = (lat, lon) => {
    if (!marker) return false;
    marker.setLatLng([lat, lon]);
    marker.fire("dragend");
    return true;
  };

  if (typeof QWebChannel !== "undefined" && typeof qt !== "undefined") {
    new QWebChannel(qt.webChannelTransport, (channel) => {
      bridge = channel.objects.bridge;
      bridge.showPhoto.connect(showPhoto);
      bridge.showOthers.connect(showOthers);
      bridge.showTracks.connect(showTracks);
      bridge.goTo.connect(goTo);
      addArchiveLayer();
      state.ready = true;
      bridge.pageReady();
    });
  }
})();
