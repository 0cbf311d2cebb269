// The offline basemap drawn from the vendored Natural Earth and GeoNames data (resources/basemap): land and
// coasts, lakes and rivers at 1:10m, first-level admin lines at 1:50m, and place labels chosen by population as
// the user zooms. Shared by the app's live page and the exported trip map. Names go into the DOM as textContent.
"use strict";
(function () {
  // A ring crossing the antimeridian is drawn in one piece: after each jump of more than 180 degrees the rest of the
  // ring continues by +-360 (Eurasia then runs on past 180 to Chukotka instead of being drawn across the whole map).
  // A ring that does not come back (Antarctica, closed along the antimeridian and the pole) is left as it is.
  function unwrapRing(ring) {
    let offset = 0;
    let crosses = false;
    const out = [ring[0]];
    for (let i = 1; i < ring.length; i++) {
      const step = ring[i][0] - ring[i - 1][0];
      if (step > 180) { offset -= 360; crosses = true; } else if (step < -180) { offset += 360; crosses = true; }
      out.push(offset ? [ring[i][0] + offset, ring[i][1]] : ring[i]);
    }
    return crosses && offset === 0 ? out : ring;
  }
  function unwrap(geojson) {
    const fix = (geometry) => {
      if (!geometry) return;
      if (geometry.type === "Polygon") geometry.coordinates = geometry.coordinates.map(unwrapRing);
      if (geometry.type === "MultiPolygon") geometry.coordinates = geometry.coordinates.map((p) => p.map(unwrapRing));
      if (geometry.type === "LineString") geometry.coordinates = unwrapRing(geometry.coordinates);
      if (geometry.type === "MultiLineString") geometry.coordinates = geometry.coordinates.map(unwrapRing);
    };
    if (geojson.type === "FeatureCollection") geojson.features.forEach((f) => fix(f.geometry));
    else if (geojson.type === "Feature") fix(geojson.geometry);
    else fix(geojson);
    return geojson;
  }
  window.geotaggerUnwrap = unwrap; // the tests check the land layer with it
})();

window.geotaggerBasemap = function (map, options) {
  const unwrap = window.geotaggerUnwrap;
  const opts = options || {};
  const state = { labels: 0, land: 0, lakes: 0, rivers: 0, waterShown: 0 };
  const WATER_ZOOM_AHEAD = 1; // one level before Natural Earth's own min_zoom: a river to place photos by
  const basePane = map.createPane("gtBase");
  basePane.style.zIndex = 150; // under the tile pane (200): online or archive tiles, once loaded, cover it
  const labelPane = map.createPane("gtLabels");
  labelPane.style.zIndex = 450;
  labelPane.style.pointerEvents = "none";
  const renderer = L.canvas({ pane: "gtBase", padding: 0.3 });

  function layer(geojson, style) {
    return L.geoJSON(geojson, { pane: "gtBase", renderer: renderer, interactive: false, style: style,
      smoothFactor: 1.5 });
  }

  const layers = {};
  const countries = window.GEOTAGGER_COUNTRIES;
  if (countries && window.topojson) {
    const land = unwrap(topojson.feature(countries, countries.objects.land));
    layers.land = layer(land, { color: "#7c8a7a", weight: 0.8, fillColor: "#eef0e4", fillOpacity: 1 }).addTo(map);
    layers.borders = layer(unwrap(topojson.mesh(countries, countries.objects.countries, (a, b) => a !== b)),
      { color: "#8a6f8f", weight: 1, fill: false, opacity: 0.8 }).addTo(map);
    state.land = land.features ? land.features.length : 1;
  }
  const admin1 = window.GEOTAGGER_ADMIN1;
  if (admin1 && window.topojson) {
    layers.admin1 = layer(topojson.mesh(admin1, admin1.objects.subunits, (a, b) => a !== b),
      { color: "#a78bab", weight: 0.7, dashArray: "4 3", fill: false });
  }
  // Natural Earth 1:10m lakes and rivers, grouped by the zoom Natural Earth shows them from (`z`; rivers also by
  // stroke weight `w`): the Great Lakes and the Amazon on the world map, a town's river by zoom 8-10. Each group is
  // one layer, added as the user zooms in; all of them sit in the base pane, under the labels.
  const water = window.GEOTAGGER_WATER;
  const waterLayers = [];
  if (water && window.topojson) {
    for (const feature of topojson.feature(water, water.objects.lakes).features) {
      waterLayers.push([Number(feature.properties.z) || 0, 0, layer(feature,
        { color: "#7fa6c6", weight: 0.6, fillColor: "#c9dbe9", fillOpacity: 1 })]);
      state.lakes += Number(feature.properties.n) || 0;
    }
    for (const feature of topojson.feature(water, water.objects.rivers).features) {
      const weight = Math.max(1.2, Math.min(3.5, 0.8 + 2 * (Number(feature.properties.w) || 0.2)));
      waterLayers.push([Number(feature.properties.z) || 0, 1, layer(feature, { color: "#4f8fca", fill: false,
        opacity: 0.95, lineCap: "round", lineJoin: "round", weight: weight })]);
      state.rivers += Number(feature.properties.n) || 0;
    }
    // drawn in order: rivers over the lakes they run through, smaller features over bigger ones
    waterLayers.sort((a, b) => a[1] - b[1] || a[0] - b[0]);
  }
  function zoomLayers() {
    const zoom = map.getZoom();
    for (const [name, minZoom] of [["admin1", 4]]) {
      const item = layers[name];
      if (!item) continue;
      if (zoom >= minZoom && !map.hasLayer(item)) item.addTo(map);
      if (zoom < minZoom && map.hasLayer(item)) map.removeLayer(item);
    }
    state.waterShown = 0;
    let added = false;
    for (const [minZoom, , item] of waterLayers) {
      const show = zoom + WATER_ZOOM_AHEAD >= minZoom;
      if (show && !map.hasLayer(item)) { item.addTo(map); added = true; }
      if (!show && map.hasLayer(item)) map.removeLayer(item);
      if (show) state.waterShown += 1;
    }
    if (added) { // a lake group shown later is drawn last: put the rivers back over it
      for (const [, kind, item] of waterLayers) if (kind === 1 && map.hasLayer(item)) item.bringToFront();
    }
    for (const name of ["borders", "admin1"]) { // borders run across lakes, over the water drawn under them
      if (layers[name] && map.hasLayer(layers[name])) layers[name].bringToFront();
    }
  }

  // Smallest population labelled at each zoom: capitals of the world first, every town of 5,000 from zoom 10.
  const MIN_POPULATION = [1e7, 1e7, 5e6, 2e6, 1e6, 5e5, 2e5, 1e5, 5e4, 2e4, 5e3];
  const MAX_LABELS = 150;
  const labels = L.layerGroup().addTo(map);
  let labelsOn = opts.labels !== false;
  function drawLabels() {
    labels.clearLayers();
    state.labels = 0;
    const places = window.GEOTAGGER_PLACES;
    if (!labelsOn || !Array.isArray(places)) return;
    const zoom = map.getZoom();
    const floor = MIN_POPULATION[Math.min(Math.max(zoom, 0), MIN_POPULATION.length - 1)];
    const bounds = map.getBounds().pad(0.05);
    const taken = []; // [left, top, right, bottom] of each label placed, in container pixels
    for (const place of places) {
      const population = place[3];
      if (population < floor || state.labels >= MAX_LABELS) break;
      if (!bounds.contains([place[1], place[2]])) continue;
      // a label's box from its length (11-12 px sans-serif: about 6.5 px a character, bold 7.5), with a margin;
      // more populous places come first and keep their room, a smaller one that would overlap is left out
      const point = map.latLngToContainerPoint([place[1], place[2]]);
      const big = population >= floor * 10;
      const box = [point.x - 6, point.y - 10, point.x + 14 + String(place[0]).length * (big ? 7.5 : 6.5),
        point.y + 8];
      if (taken.some((t) => box[0] < t[2] && t[0] < box[2] && box[1] < t[3] && t[1] < box[3])) continue;
      taken.push(box);
      const label = document.createElement("span");
      label.className = big ? "gt-place gt-big" : "gt-place";
      label.textContent = "• " + String(place[0]);
      const icon = L.divIcon({ html: label, className: "", iconSize: null, iconAnchor: [3, 8] });
      L.marker([place[1], place[2]], { icon: icon, pane: "gtLabels", interactive: false, keyboard: false })
        .addTo(labels);
      state.labels += 1;
    }
  }
  map.on("zoomend", zoomLayers);
  map.on("moveend", drawLabels);
  zoomLayers();
  drawLabels();
  return {
    state: state,
    layers: layers,
    renderer: renderer,
    setLabels(on) { labelsOn = on; drawLabels(); },
    redraw: drawLabels,
  };
};
