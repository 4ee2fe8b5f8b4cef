// Siaga responders' map. Plain browser JavaScript, no build step; MapLibre GL JS is served by
// Siaga itself from the `maplibre` Python package. Communities come as vector tiles, so the
// page stays light with tens of thousands of them; everything else is small GeoJSON.
(function () {
  "use strict";

  var I18N = window.SIAGA_I18N;
  var CONFIG = {
    hazards: ["flood", "earthquake", "tsunami", "volcano", "landslide", "extreme_weather"],
    riskTiles: "/tiles/risk/{z}/{x}/{y}.pbf",
    riskSourceLayer: "risk",
    codeProp: "code",
    nameProp: "name",
    levelProp: "level",
    riskCard: "/api/v1/communities/{code}/risk",
    groups: "/api/v1/groups",
    alerts: "/api/v1/alerts?limit=200",
    alertDetail: "/api/v1/alerts/{id}",
    whoami: "/api/v1/keys/me",
    collections: "/ogc/collections",
    mapConfig: "/map/config.json",
    areas: "/map/areas/{level}.geojson",
    search: "/api/v1/communities?limit=12&q=",
    zonesCollection: "hazard-zones",
    reportsCollection: "reports",
    overlayRefreshMs: 60000,
    recentDays: 7,
    maxLabels: 200,
  };
  // Colour per risk level (the risk domain's level names); the same order is the legend's.
  var LEVELS = [
    ["tinggi", "#d7301f"],
    ["sedang", "#fc8d59"],
    ["rendah", "#fee08b"],
    ["unknown", "#c9ced6"],
  ];
  var OVERLAYS = {
    events: { match: /event/, color: "#6a3d9a", toggle: "show-events" },
    alerts: { match: /alert/, color: "#e31a1c", toggle: "show-alerts" },
    reports: { match: /report/, color: "#1f78b4", toggle: "show-reports" },
    shelters: { match: /^shelters$/, color: "#33a02c", toggle: "show-shelters" },
  };

  var state = {
    lang: localStorage.getItem("siaga.lang") || "id",
    hazard: localStorage.getItem("siaga.hazard") || "flood",
    key: sessionStorage.getItem("siaga.key") || "",
    who: null,
    selected: null,
    lastCard: null,
    renderedCount: 0,
    tilesLoaded: false,
    overlayCounts: {},
    areas: { district: null, regency: null },
  };

  // ---- small helpers -------------------------------------------------------------------
  function t(key) {
    var words = I18N[state.lang] || I18N.id;
    return key in words ? words[key] : I18N.id[key] || key;
  }
  function levelName(level) {
    var names = t("levels");
    return (names && names[level]) || level || names.unknown;
  }
  function hazardName(h) {
    var names = t("hazards");
    return (names && names[h]) || h;
  }
  function levelColor(level) {
    for (var i = 0; i < LEVELS.length; i++) if (LEVELS[i][0] === level) return LEVELS[i][1];
    return "#c9ced6";
  }
  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) {
      if (k === "text") node.textContent = attrs[k];
      else if (k === "class") node.className = attrs[k];
      else if (k === "style") node.setAttribute("style", attrs[k]);
      else node.setAttribute(k, attrs[k]);
    });
    (children || []).forEach(function (c) {
      if (c == null) return;
      node.appendChild(typeof c === "string" ? document.createTextNode(c) : c);
    });
    return node;
  }
  function fmt(value, digits) {
    if (value == null || value === "") return "–";
    if (typeof value === "number") {
      var locale = state.lang === "id" ? "id-ID" : "en-GB";
      return value.toLocaleString(locale, { maximumFractionDigits: digits == null ? 3 : digits });
    }
    if (typeof value === "boolean") return value ? "✓" : "✗";
    if (typeof value === "object") return JSON.stringify(value);
    return String(value);
  }
  function fmtTime(value) {
    if (!value) return "–";
    var d = new Date(value);
    if (isNaN(d.getTime())) return String(value);
    return d.toLocaleString(state.lang === "id" ? "id-ID" : "en-GB", { dateStyle: "medium", timeStyle: "short" });
  }
  function pick(obj, names) {
    if (!obj) return undefined;
    for (var i = 0; i < names.length; i++) {
      var v = obj[names[i]];
      if (v !== undefined && v !== null) return v;
    }
    return undefined;
  }
  function pct(share, digits) {
    return share == null ? "–" : fmt(share * 100, digits == null ? 1 : digits) + " %";
  }
  function statusName(s) {
    var names = t("statuses");
    return (names && names[s]) || s || "–";
  }
  function indicatorValue(k, v) {
    if (v === undefined || v === null) return "–";
    if (k === "density" || k === "density_per_km2") return fmt(v, 0) + " " + t("per_km2");
    if (/^share_/.test(k)) return pct(v);
    if (/^has_/.test(k)) return v ? t("yes") : t("no");
    if (k === "drills_per_year") return fmt(v, 0) + " " + t("per_year");
    return fmt(v);
  }
  function setStatus(text) {
    document.getElementById("status").textContent = text || "";
  }
  function api(path, withKey) {
    var headers = { Accept: "application/json" };
    if (withKey && state.key) headers.Authorization = "Bearer " + state.key;
    return fetch(path, { headers: headers }).then(function (r) {
      if (!r.ok) {
        var err = new Error(r.status + " " + r.statusText);
        err.status = r.status;
        return r.text().then(function (body) {
          try { err.detail = JSON.parse(body).detail; } catch (e) { /* not JSON */ }
          throw err;
        });
      }
      return r.json();
    });
  }

  // ---- language ------------------------------------------------------------------------
  function applyLanguage() {
    document.documentElement.lang = state.lang;
    document.title = t("title");
    document.querySelectorAll("[data-i18n]").forEach(function (node) {
      node.textContent = t(node.getAttribute("data-i18n"));
    });
    document.querySelectorAll("[data-i18n-placeholder]").forEach(function (node) {
      node.setAttribute("placeholder", t(node.getAttribute("data-i18n-placeholder")));
    });
    document.querySelectorAll(".lang button").forEach(function (b) {
      b.classList.toggle("active", b.getAttribute("data-lang") === state.lang);
    });
    var select = document.getElementById("hazard");
    select.innerHTML = "";
    CONFIG.hazards.forEach(function (h) {
      var opt = el("option", { value: h, text: hazardName(h) });
      if (h === state.hazard) opt.selected = true;
      select.appendChild(opt);
    });
    renderLegend();
    renderWho();
    if (state.lastCard) renderCard(state.lastCard);
    updateTileStatus();
  }

  function renderLegend() {
    var list = document.getElementById("legend-levels");
    list.innerHTML = "";
    LEVELS.forEach(function (pair) {
      list.appendChild(el("li", {}, [
        el("span", { class: "swatch", style: "background:" + pair[1] }),
        el("span", { text: levelName(pair[0]) }),
      ]));
    });
  }

  // ---- sign-in -------------------------------------------------------------------------
  function renderWho() {
    var who = document.getElementById("who");
    var button = document.getElementById("signin-button");
    var input = document.getElementById("api-key");
    if (state.who) {
      who.textContent = t("signed_in_as") + " " + state.who.name + " (" + state.who.role + ")";
      button.textContent = t("sign_out");
      input.style.display = "none";
    } else {
      who.textContent = "";
      button.textContent = t("sign_in");
      input.style.display = "";
    }
  }
  function checkKey() {
    if (!state.key) { state.who = null; renderWho(); return Promise.resolve(); }
    return api(CONFIG.whoami, true).then(function (me) {
      state.who = me;
      renderWho();
      if (state.selected) loadDeliveries(state.selected.code);
    }).catch(function () {
      state.key = "";
      sessionStorage.removeItem("siaga.key");
      state.who = null;
      renderWho();
      document.getElementById("who").textContent = t("bad_key");
    });
  }

  // ---- the map -------------------------------------------------------------------------
  function tileUrl() {
    return location.origin + CONFIG.riskTiles + "?hazard=" + encodeURIComponent(state.hazard);
  }
  // The last view, remembered; else the largest cluster of scored communities (map config).
  var savedView = null;
  try { savedView = JSON.parse(localStorage.getItem("siaga.view") || "null"); } catch (e) { savedView = null; }
  var mapOptions = {
    container: "map",
    style: {
      version: 8,
      sources: {},
      layers: [{ id: "background", type: "background", paint: { "background-color": "#dfe8ef" } }],
    },
    maxZoom: 17,
    attributionControl: false,
  };
  if (savedView && savedView.center && typeof savedView.zoom === "number") {
    mapOptions.center = savedView.center;
    mapOptions.zoom = savedView.zoom;
  } else {
    mapOptions.bounds = [[95, -11], [141, 6]];
  }
  var map = new maplibregl.Map(mapOptions);
  map.on("moveend", function () {
    var c = map.getCenter();
    localStorage.setItem("siaga.view", JSON.stringify({ center: [c.lng, c.lat], zoom: map.getZoom() }));
  });
  map.addControl(new maplibregl.NavigationControl({ showCompass: false }), "top-left");
  map.addControl(new maplibregl.ScaleControl({ unit: "metric" }), "bottom-right");

  var levelMatch = ["match", ["get", CONFIG.levelProp]];
  LEVELS.forEach(function (pair) { levelMatch.push(pair[0], pair[1]); });
  levelMatch.push("#c9ced6");

  function addRiskLayers() {
    map.addSource("risk", { type: "vector", tiles: [tileUrl()], minzoom: 0, maxzoom: 14 });
    map.addLayer({
      id: "risk-fill", type: "fill", source: "risk", "source-layer": CONFIG.riskSourceLayer,
      paint: { "fill-color": levelMatch, "fill-opacity": 0.8 },
    });
    map.addLayer({
      id: "risk-outline", type: "line", source: "risk", "source-layer": CONFIG.riskSourceLayer,
      paint: { "line-color": "#ffffff", "line-width": ["interpolate", ["linear"], ["zoom"], 6, 0.2, 12, 1.2] },
    });
    map.addLayer({
      id: "risk-selected", type: "line", source: "risk", "source-layer": CONFIG.riskSourceLayer,
      filter: ["==", ["get", CONFIG.codeProp], ""],
      paint: { "line-color": "#111", "line-width": 3 },
    });
    map.on("click", "risk-fill", function (e) {
      var f = e.features && e.features[0];
      if (!f) return;
      selectCommunity({
        code: String(f.properties[CONFIG.codeProp]),
        name: f.properties[CONFIG.nameProp],
        level: f.properties[CONFIG.levelProp],
      });
    });
    map.on("mouseenter", "risk-fill", function () { map.getCanvas().style.cursor = "pointer"; });
    map.on("mouseleave", "risk-fill", function () { map.getCanvas().style.cursor = ""; });
  }

  function updateTileStatus() {
    if (!map.getLayer("risk-fill")) return;
    var seen = {};
    map.queryRenderedFeatures({ layers: ["risk-fill"] }).forEach(function (f) {
      seen[f.properties[CONFIG.codeProp]] = true;
    });
    state.renderedCount = Object.keys(seen).length;
    if (state.renderedCount > 0) state.tilesLoaded = true;
    document.body.setAttribute("data-tiles-loaded", state.tilesLoaded ? "true" : "false");
    setStatus(t("tiles_status").replace("{n}", fmt(state.renderedCount, 0)));
  }

  function setHazard(h) {
    state.hazard = h;
    localStorage.setItem("siaga.hazard", h);
    state.tilesLoaded = false;
    var src = map.getSource("risk");
    if (src) src.setTiles([tileUrl()]);
    if (map.getLayer("zones-edge")) map.setFilter("zones-edge", ["==", ["get", "hazard"], h]);
    if (state.selected) selectCommunity(state.selected);
  }

  // Events, active alerts and ground reports from the OGC API collections, when present.
  var overlayCollections = {};
  function discoverOverlays() {
    return api(CONFIG.collections, false).then(function (doc) {
      (doc.collections || []).forEach(function (c) {
        var id = String(c.id || "");
        if (/contact|member/.test(id)) return;
        Object.keys(OVERLAYS).forEach(function (kind) {
          if (!overlayCollections[kind] && OVERLAYS[kind].match.test(id)) overlayCollections[kind] = id;
        });
      });
      Object.keys(overlayCollections).forEach(addOverlay);
    }).catch(function () { /* no OGC API on this server: the map works without overlays */ });
  }
  function overlayUrl(kind, recent) {
    // Recent only: events and reports of the last recentDays days (OGC `datetime`, open end).
    var url = CONFIG.collections + "/" + encodeURIComponent(overlayCollections[kind]) + "/items?limit=1000";
    if (recent && kind !== "alerts" && kind !== "shelters") {
      var since = new Date(Date.now() - CONFIG.recentDays * 86400000).toISOString();
      url += "&datetime=" + encodeURIComponent(since + "/..");
    }
    return url;
  }
  function activeOnly(fc) {
    // An alert is active until it is closed (all-clear, cancel) or expires. A cancelled one
    // stays until it expires, labelled DIBATALKAN, so nobody keeps acting on it.
    var now = Date.now();
    fc.features = (fc.features || []).filter(function (f) {
      var p = f.properties || {};
      if (p.closed_at && !p.cancelled) return false;
      return !p.expires_at || new Date(p.expires_at).getTime() > now;
    });
    return fc;
  }
  function addOverlay(kind) {
    api(overlayUrl(kind, true), false).catch(function () {
      return api(overlayUrl(kind, false), false);  // a collection without a time filter
    }).then(function (fc) {
      if (kind === "alerts") fc = activeOnly(fc);
      state.overlayCounts[kind] = (fc.features || []).length;
      var color = OVERLAYS[kind].color;
      if (map.getSource(kind)) { map.getSource(kind).setData(fc); return; }
      map.addSource(kind, { type: "geojson", data: fc });
      map.addLayer({
        id: kind + "-area", type: "fill", source: kind,
        filter: ["in", ["geometry-type"], ["literal", ["Polygon", "MultiPolygon"]]],
        paint: { "fill-color": color, "fill-opacity": 0.12 },
      });
      map.addLayer({
        id: kind + "-edge", type: "line", source: kind,
        filter: ["in", ["geometry-type"], ["literal", ["Polygon", "MultiPolygon", "LineString"]]],
        paint: { "line-color": color, "line-width": 2, "line-dasharray": [2, 1] },
      });
      map.addLayer({
        id: kind + "-point", type: "circle", source: kind,
        filter: ["==", ["geometry-type"], "Point"],
        paint: {
          "circle-color": color, "circle-radius": 6, "circle-stroke-color": "#fff", "circle-stroke-width": 2,
        },
      });
      [kind + "-point", kind + "-area"].forEach(function (layer) {
        map.on("click", layer, function (e) { showPopup(kind, e); });
      });
      applyToggle(kind);
    }).catch(function () { /* collection unavailable right now */ });
  }
  function applyToggle(kind) {
    var on = document.getElementById(OVERLAYS[kind].toggle).checked;
    ["-area", "-edge", "-point"].forEach(function (s) {
      if (map.getLayer(kind + s)) map.setLayoutProperty(kind + s, "visibility", on ? "visible" : "none");
    });
  }
  function showPopup(kind, e) {
    var f = e.features && e.features[0];
    if (!f) return;
    var p = f.properties || {};
    // Alerts: the label first, so DIBATALKAN and LATIHAN are the first words anyone reads.
    var title = (kind === "alerts" && p.label) || p.headline || p.title || p.name ||
      (p.hazard ? hazardName(p.hazard) : "") || t(kind);
    var rows = [];
    [["label"], ["headline"], ["kind"], ["capacity"], ["notes"],
      ["hazard", function (v) { return hazardName(v); }], ["level_name"], ["magnitude"], ["depth_km"],
      ["severity"], ["community_name"], ["group_name"], ["sent_at", fmtTime], ["expires_at", fmtTime],
      ["time", fmtTime], ["received_at", fmtTime], ["text"], ["source"]].forEach(function (spec) {
      var k = spec[0], v = p[k];
      if (v === undefined || v === null || v === "") return;
      rows.push(el("tr", {}, [el("th", { text: t("field_" + k) }), el("td", { text: spec[1] ? spec[1](v) : fmt(v) })]));
    });
    var box = el("div", {}, [el("strong", { text: String(title) }), el("table", {}, rows)]);
    new maplibregl.Popup({ maxWidth: "280px" }).setLngLat(e.lngLat).setDOMContent(box).addTo(map);
  }

  // ---- basemap, outlines and labels (offline by default) -------------------------------
  function firstLayerAboveBase() {
    var order = ["district-line", "regency-line", "risk-fill"];
    for (var i = 0; i < order.length; i++) if (map.getLayer(order[i])) return order[i];
    return undefined;
  }
  function addBasemap(b) {
    document.getElementById("attribution").textContent = b.attribution || "";
    if (b.problem) setStatus(t("basemap_problem") + ": " + b.problem);
    if (!b || b.kind === "none") return;
    var before = firstLayerAboveBase();
    if (b.kind === "xyz" || (b.kind === "pmtiles" && b.tile_type === "raster")) {
      var url = b.kind === "pmtiles" ? location.origin + b.url : b.url;
      map.addSource("basemap", { type: "raster", tiles: [url], tileSize: 256, minzoom: b.minzoom || 0, maxzoom: b.maxzoom || 19 });
      map.addLayer({ id: "basemap", type: "raster", source: "basemap" }, before);
    } else if (b.kind === "pmtiles") {
      // A vector archive: a plain style for any schema (fills, lines), below everything.
      map.addSource("basemap", { type: "vector", tiles: [location.origin + b.url], minzoom: b.minzoom || 0, maxzoom: b.maxzoom || 14 });
      (b.vector_layers || []).forEach(function (name) {
        var water = /water|ocean|sea|river|lake/i.test(name);
        map.addLayer({ id: "basemap-fill-" + name, type: "fill", source: "basemap", "source-layer": name,
          filter: ["==", ["geometry-type"], "Polygon"],
          paint: { "fill-color": water ? "#b9d3e6" : "#eef0ea", "fill-opacity": water ? 1 : 0.6 } }, before);
        map.addLayer({ id: "basemap-line-" + name, type: "line", source: "basemap", "source-layer": name,
          filter: ["==", ["geometry-type"], "LineString"],
          paint: { "line-color": water ? "#9cc0da" : "#c3c7bd", "line-width": 0.8 } }, before);
      });
    } else if (b.kind === "style") {
      fetch(b.url).then(function (r) { return r.json(); }).then(function (style) {
        if (style.glyphs && map.setGlyphs) map.setGlyphs(style.glyphs);
        if (style.sprite && map.setSprite) map.setSprite(style.sprite);
        Object.keys(style.sources || {}).forEach(function (id) { map.addSource("base-" + id, style.sources[id]); });
        (style.layers || []).forEach(function (layer) {
          if (layer.type === "background") return;
          var copy = JSON.parse(JSON.stringify(layer));
          copy.id = "base-" + layer.id;
          if (copy.source) copy.source = "base-" + copy.source;
          map.addLayer(copy, firstLayerAboveBase());
        });
      }).catch(function (err) { setStatus(t("basemap_problem") + ": " + err.message); });
    }
  }
  function addAreas() {
    [["regency", { "line-color": "#39424c", "line-width": 2 }, 0],
      ["district", { "line-color": "#6b7b8c", "line-width": 1, "line-dasharray": [3, 2] }, 8]].forEach(function (spec) {
      var level = spec[0];
      api(CONFIG.areas.replace("{level}", level), false).then(function (fc) {
        state.areas[level] = fc;
        map.addSource("area-" + level, { type: "geojson", data: fc });
        map.addLayer({ id: level + "-line", type: "line", source: "area-" + level, minzoom: spec[2], paint: spec[1] },
          map.getLayer("risk-selected") ? "risk-selected" : undefined);
        updateLabels();
      }).catch(function () { /* no admin codes in the loaded boundaries: no outlines */ });
    });
  }
  // Labels are HTML markers: MapLibre text needs glyph files from a font server, and the
  // default map must work with no network.
  var labelMarkers = [];
  function labelCandidates() {
    var z = map.getZoom();
    var out = [];
    if (z >= 12.5 && map.getLayer("risk-fill")) {
      var seen = {};
      map.queryRenderedFeatures({ layers: ["risk-fill"] }).forEach(function (f) {
        var code = f.properties[CONFIG.codeProp];
        if (seen[code] || !f.geometry) return;
        var ring = f.geometry.type === "Polygon" ? f.geometry.coordinates[0] : f.geometry.coordinates[0][0];
        var xs = ring.map(function (p) { return p[0]; }), ys = ring.map(function (p) { return p[1]; });
        seen[code] = true;
        out.push({ cls: "desa", text: f.properties[CONFIG.nameProp],
          at: [(Math.min.apply(null, xs) + Math.max.apply(null, xs)) / 2, (Math.min.apply(null, ys) + Math.max.apply(null, ys)) / 2] });
      });
      return out;
    }
    var level = z >= 9.5 ? "district" : "regency";
    var fc = state.areas[level];
    var b = map.getBounds();
    ((fc && fc.features) || []).forEach(function (f) {
      var p = f.properties.label_point;
      if (p && b.contains(p)) out.push({ cls: level, text: f.properties.name, at: p });
    });
    return out;
  }
  function updateLabels() {
    labelMarkers.forEach(function (m) { m.remove(); });
    labelMarkers = labelCandidates().slice(0, CONFIG.maxLabels).map(function (l) {
      var node = el("div", { class: "map-label " + l.cls, text: l.text });
      return new maplibregl.Marker({ element: node, anchor: "center" }).setLngLat(l.at).addTo(map);
    });
    document.body.setAttribute("data-labels", String(labelMarkers.length));
  }

  // Hazard zones of the chosen hazard, from the OGC collection, for the area in view.
  var zonesTimer = null;
  function refreshZones() {
    clearTimeout(zonesTimer);
    zonesTimer = setTimeout(function () {
      if (!document.getElementById("show-zones").checked || map.getZoom() < 8) return;
      var b = map.getBounds();
      var bbox = [b.getWest(), b.getSouth(), b.getEast(), b.getNorth()].map(function (v) { return v.toFixed(5); }).join(",");
      var url = CONFIG.collections + "/" + CONFIG.zonesCollection + "/items?limit=2000&bbox=" + bbox;
      api(url, false).then(function (fc) {
        if (map.getSource("zones")) { map.getSource("zones").setData(fc); }
        else {
          map.addSource("zones", { type: "geojson", data: fc });
          map.addLayer({ id: "zones-edge", type: "line", source: "zones",
            paint: { "line-color": "#7a0177", "line-width": 1.2, "line-opacity": 0.7 } }, "risk-selected");
        }
        map.setFilter("zones-edge", ["==", ["get", "hazard"], state.hazard]);
        applyZonesToggle();
      }).catch(function () { /* no zones collection */ });
    }, 300);
  }
  function applyZonesToggle() {
    if (!map.getLayer("zones-edge")) return;
    var on = document.getElementById("show-zones").checked;
    map.setLayoutProperty("zones-edge", "visibility", on ? "visible" : "none");
  }

  // ---- search --------------------------------------------------------------------------
  var searchTimer = null;
  function areaLabel(a) {
    var n = t("n_communities").replace("{n}", fmt(a.communities, 0));
    if (a.level === "district") return [t("area_district") + " " + a.name, a.regency_name, n].filter(Boolean).join(" · ");
    return [a.name, n].join(" · ");
  }
  function renderSearch(page) {
    var list = document.getElementById("search-results");
    list.innerHTML = "";
    var rows = [];
    (page.areas || []).forEach(function (a) {
      rows.push({ kind: a.level === "district" ? t("area_district") : t("area_regency"), text: areaLabel(a), bbox: a.bbox });
    });
    (page.items || []).forEach(function (c) {
      rows.push({ kind: c.level || "desa", text: [c.name, c.district_name && t("area_district") + " " + c.district_name, c.regency_name].filter(Boolean).join(" · ") + " (" + c.code + ")",
        bbox: c.bbox, community: { code: c.code, name: c.name } });
    });
    if (rows.length === 0) list.appendChild(el("li", { class: "muted", text: t("search_none") }));
    rows.forEach(function (r, i) {
      var li = el("li", { role: "option", "data-index": String(i) }, [el("span", { class: "kind", text: r.kind }), r.text]);
      li.addEventListener("click", function () { chooseResult(r); });
      list.appendChild(li);
    });
    list.hidden = false;
    state.searchRows = rows;
  }
  function chooseResult(r) {
    clearTimeout(searchTimer);
    state.searchQuery = null;  // a late answer to the typed query no longer opens the list
    document.getElementById("search-results").hidden = true;
    var b = r.bbox;
    map.fitBounds([[b[0], b[1]], [b[2], b[3]]], { padding: 40, maxZoom: 15, duration: 0 });
    if (r.community) selectCommunity({ code: r.community.code, name: r.community.name });
  }
  function onSearchInput(e) {
    clearTimeout(searchTimer);
    var q = e.target.value.trim();
    if (q.length < 2) { document.getElementById("search-results").hidden = true; return; }
    state.searchQuery = q;
    searchTimer = setTimeout(function () {
      api(CONFIG.search + encodeURIComponent(q), false).then(function (page) {
        if (state.searchQuery === q) renderSearch(page);
      }).catch(function (err) {
        setStatus(t("load_failed") + ": " + (err.detail || err.message));
      });
    }, 200);
  }

  // ---- the risk card -------------------------------------------------------------------
  function selectCommunity(c) {
    state.selected = c;
    if (map.getLayer("risk-selected")) map.setFilter("risk-selected", ["==", ["get", CONFIG.codeProp], c.code]);
    var panel = document.getElementById("panel");
    panel.innerHTML = "";
    panel.appendChild(el("h2", { text: c.name || c.code }));
    panel.appendChild(el("p", { class: "muted", text: t("loading") }));
    var url = CONFIG.riskCard.replace("{code}", encodeURIComponent(c.code));
    api(url, true).then(function (card) {
      if (!state.selected || state.selected.code !== c.code) return;
      state.lastCard = { community: c, card: card };
      renderCard(state.lastCard);
    }).catch(function (err) {
      state.lastCard = { community: c, card: null, error: err };
      renderCard(state.lastCard);
    });
  }

  function historyChart(history) {
    var pts = (history || []).map(function (h) {
      return { t: new Date(h.at).getTime(), v: Number(h.score) };
    }).filter(function (p) { return !isNaN(p.t) && !isNaN(p.v); }).sort(function (a, b) { return a.t - b.t; });
    if (pts.length === 0) return el("p", { class: "muted", text: "–" });
    var W = 340, H = 70, pad = 6;
    var t0 = pts[0].t, t1 = pts[pts.length - 1].t || t0 + 1;
    var vmax = Math.max.apply(null, pts.map(function (p) { return p.v; }).concat([1e-9]));
    function x(p) { return pad + (t1 === t0 ? (W - 2 * pad) / 2 : (p.t - t0) / (t1 - t0) * (W - 2 * pad)); }
    function y(p) { return H - pad - (p.v / vmax) * (H - 2 * pad); }
    var ns = "http://www.w3.org/2000/svg";
    var svg = document.createElementNS(ns, "svg");
    svg.setAttribute("viewBox", "0 0 " + W + " " + H);
    svg.setAttribute("class", "history");
    svg.setAttribute("role", "img");
    svg.setAttribute("aria-label", t("history"));
    var line = document.createElementNS(ns, "polyline");
    line.setAttribute("points", pts.map(function (p) { return x(p).toFixed(1) + "," + y(p).toFixed(1); }).join(" "));
    line.setAttribute("fill", "none");
    line.setAttribute("stroke", "#0f3d5e");
    line.setAttribute("stroke-width", "2");
    svg.appendChild(line);
    pts.forEach(function (p) {
      var dot = document.createElementNS(ns, "circle");
      dot.setAttribute("cx", x(p).toFixed(1));
      dot.setAttribute("cy", y(p).toFixed(1));
      dot.setAttribute("r", "2.5");
      dot.setAttribute("fill", "#0f3d5e");
      var title = document.createElementNS(ns, "title");
      title.textContent = fmtTime(p.t) + ": " + fmt(p.v);
      dot.appendChild(title);
      svg.appendChild(dot);
    });
    return svg;
  }

  function historyOf(entry) {
    return (entry.history || []).map(function (h) { return { at: h.computed_at, score: h.score }; });
  }

  function partsTable(parts, indicators) {
    var names = t("indicators") || {};
    var head = el("tr", {}, [el("th", { text: t("indicator") }), el("th", { text: t("value") }), el("th", { text: t("weight_part") })]);
    var rows = Object.keys(parts || {}).map(function (k) {
      var raw = indicators && k in indicators ? indicators[k] : undefined;
      if (k === "density" && indicators) raw = indicators.density_per_km2;
      return el("tr", {}, [
        el("td", { text: names[k] || k.replace(/_/g, " ") }),
        el("td", { class: "num", text: raw === undefined ? "" : indicatorValue(k, raw) }),
        el("td", { class: "num", text: pct(parts[k], 0) }),
      ]);
    });
    return el("table", { class: "parts" }, [head].concat(rows));
  }

  // Rows per hazard class; the risk card sends a list plus `exposure_summary` (an older
  // shape kept `classes` inside `exposure`: both are read).
  function exposureTable(h) {
    var rows = Array.isArray(h.exposure) ? h.exposure : ((h.exposure && h.exposure.classes) || []).map(function (c) {
      return { "class": c["class"], population: c.population, area_km2: c.area_m2 / 1e6, share: c.population_share };
    });
    var sum = h.exposure_summary || (Array.isArray(h.exposure) ? {} : h.exposure) || {};
    if (rows.length === 0) return el("p", { class: "muted", text: "–" });
    var head = el("tr", {}, [
      el("th", { text: t("class") }), el("th", { text: t("population") }),
      el("th", { text: t("area") }), el("th", { text: t("share") }),
    ]);
    var trs = rows.map(function (r) {
      return el("tr", {}, [
        el("td", { text: String(r["class"]) }),
        el("td", { class: "num", text: fmt(r.population, 0) }),
        el("td", { class: "num", text: fmt(r.area_km2, 2) }),
        el("td", { class: "num", text: pct(r.share) }),
      ]);
    });
    if (sum.population_exposed != null) {
      trs.push(el("tr", { class: "total" }, [
        el("td", { text: "Σ" }),
        el("td", { class: "num", text: fmt(sum.population_exposed, 0) }),
        el("td", { class: "num", text: fmt(sum.area_exposed_m2 == null ? null : sum.area_exposed_m2 / 1e6, 2) }),
        el("td", { class: "num", text: sum.population ? fmt(100 * sum.population_exposed / sum.population, 1) + " %" : "–" }),
      ]));
    }
    return el("table", {}, [head].concat(trs));
  }

  function sourcesList(h) {
    var i = h.inputs || {};
    var items = [];
    var sources = Array.isArray(h.sources) ? h.sources : [
      { role: "hazard", name: i.layer_name, version: i.layer_version, source: i.source, licence: i.licence },
      { role: "exposure", name: i.population_layer_name, version: i.population_layer_version, source: i.population_source },
    ];
    sources.forEach(function (src) {
      if (!src.name) return;
      var label = src.role === "exposure" ? t("population_layer") : t("hazard_h");
      items.push(label + ": " + [src.name + " v" + fmt(src.version), src.source, src.role === "hazard" ? i.scheme : null, src.licence].filter(Boolean).join(" · "));
      if (src.event_id) items.push("event #" + src.event_id);
    });
    if (i.model) items.push("model: " + i.model);
    if (i.defaults && i.defaults.length) items.push(t("defaults") + ": " + i.defaults.join(", "));
    return el("ul", {}, items.map(function (x) { return el("li", { text: x }); }));
  }

  function renderCard(entry) {
    var panel = document.getElementById("panel");
    var c = entry.community, card = entry.card;
    panel.innerHTML = "";
    panel.appendChild(el("h2", { id: "card-name", text: (card && card.name) || c.name || c.code }));
    panel.appendChild(el("p", { class: "sub", text: [c.code, hazardName(state.hazard)].join(" · ") }));
    if (!card) {
      panel.appendChild(el("p", { class: "error", text: t("load_failed") + ": " + (entry.error && (entry.error.detail || entry.error.message)) }));
      renderDeliveriesSection(panel, c.code);
      return;
    }
    var place = [card.district_name && t("district") + " " + card.district_name, card.regency_name].filter(Boolean).join(" · ");
    if (place) panel.appendChild(el("p", { class: "sub", id: "card-place", text: place }));
    var h = (card.hazards || []).filter(function (x) { return x.hazard === state.hazard; })[0];
    if (!h) {
      panel.appendChild(el("p", { class: "muted", id: "risk-level", "data-level": "unknown", text: t("no_score") }));
      var others = (card.hazards || []).map(function (x) { return hazardName(x.hazard) + ": " + levelName(x.level); });
      if (others.length) panel.appendChild(el("p", { class: "sub", text: others.join(" · ") }));
      panel.appendChild(notScoredList(card));
      renderDeliveriesSection(panel, c.code);
      return;
    }
    var comp = h.components || {};
    var inputs = h.inputs || {};
    panel.appendChild(el("p", {}, [
      el("span", { text: t("risk_level") + ": " }),
      el("span", { class: "badge", id: "risk-level", "data-level": h.level, style: "background:" + levelColor(h.level), text: levelName(h.level) }),
      el("span", { class: "muted", text: "  " + t("score") + " " + fmt(h.score, 2) }),
    ]));
    panel.appendChild(el("p", { class: "formula", id: "hvc", text: "H " + fmt(h.H, 2) + " · V " + fmt(h.V, 2) + " · C " + fmt(h.C, 2) + " → R " + fmt(h.score, 2) }));
    panel.appendChild(el("p", { class: "muted", text: comp.formula || t("formula") }));

    panel.appendChild(el("h3", { text: t("inputs") }));
    panel.appendChild(el("p", { class: "sub", text: t("hazard_h") + ": " + t("exposed_people") + " " + fmt((comp.H_population_share || 0) * 100, 1) + " %, " + t("exposed_area") + " " + fmt((comp.H_area_share || 0) * 100, 1) + " %" }));
    panel.appendChild(el("p", { class: "sub", text: t("vulnerability_v") }));
    panel.appendChild(partsTable(comp.V_parts, inputs.indicators));
    panel.appendChild(el("p", { class: "sub", text: t("capacity_c") }));
    panel.appendChild(partsTable(comp.C_parts, inputs.indicators));

    var area = card.area_km2 || (h.exposure_summary && h.exposure_summary.area_m2 ? h.exposure_summary.area_m2 / 1e6 : null);
    if (area) panel.appendChild(el("p", { class: "sub", text: t("area").replace(/ \(km²\)/, "") + ": " + fmt(area, 2) + " " + t("km2") }));
    panel.appendChild(el("h3", { text: t("exposure") }));
    panel.appendChild(exposureTable(h));
    panel.appendChild(el("h3", { text: t("sources") }));
    panel.appendChild(sourcesList(h));
    panel.appendChild(el("h3", { text: t("history") }));
    panel.appendChild(historyChart(historyOf(h)));
    panel.appendChild(el("p", { class: "sub", text: t("computed_at") + ": " + fmtTime(h.computed_at) }));
    panel.appendChild(notScoredList(card));
    renderDeliveriesSection(panel, c.code);
  }

  // Current layers of this hazard that gave the community no score, each with the reason.
  function notScoredList(card) {
    var reasons = t("reasons") || {};
    var items = (card.not_scored || []).filter(function (n) { return n.hazard === state.hazard; });
    if (items.length === 0) return el("span");
    return el("div", { class: "not-scored", id: "not-scored" }, [
      el("p", { class: "sub", text: t("not_scored") + ":" }),
      el("ul", {}, items.map(function (n) {
        return el("li", { "data-reason": n.reason, text: n.layer_name + ": " + (reasons[n.reason] || n.reason) + (n.error ? " (" + n.error + ")" : "") });
      })),
    ]);
  }

  function renderDeliveriesSection(panel, code) {
    panel.appendChild(el("h3", { text: t("deliveries") }));
    var box = el("div", { id: "deliveries" });
    panel.appendChild(box);
    if (!state.who) { box.appendChild(el("p", { class: "muted", text: t("deliveries_signin") })); return; }
    loadDeliveries(code);
  }

  // Alerts that reached this community (its own, or group-wide ones of a group covering it),
  // each with its recipients' delivery status and acknowledgement. Names only come back for
  // responder and admin keys: the API decides, the page shows what it gets.
  function loadDeliveries(code) {
    var box = document.getElementById("deliveries");
    if (!box || !state.key) return;
    box.textContent = t("loading");
    Promise.all([api(CONFIG.groups, true), api(CONFIG.alerts, true)]).then(function (res) {
      var groups = res[0] || [], alerts = res[1] || [];
      var groupIds = groups.filter(function (g) { return (g.community_codes || []).indexOf(code) >= 0; })
        .map(function (g) { return g.id; });
      var mine = alerts.filter(function (a) {
        return a.community_code === code || (!a.community_code && groupIds.indexOf(a.group_id) >= 0);
      }).slice(0, 3);
      if (mine.length === 0) {
        box.innerHTML = "";
        box.appendChild(el("p", { class: "muted", text: t("no_deliveries") }));
        return null;
      }
      var reports = api(CONFIG.collections + "/" + CONFIG.reportsCollection + "/items?limit=1000", true)
        .catch(function () { return { features: [] }; });
      return Promise.all([reports].concat(mine.map(function (a) { return api(CONFIG.alertDetail.replace("{id}", a.id), true); })));
    }).then(function (res) {
      if (!res) return;
      var reports = (res[0] && res[0].features) || [];
      var details = res.slice(1);
      box.innerHTML = "";
      details.forEach(function (d) {
        var n = d.counts || {};
        var tags = [];
        if (d.status === "Exercise") tags.push(el("span", { class: "tag drill", text: t("drill") }));
        if (d.msg_type === "Cancel" || d.cancelled || d.cancelled_at || d.closed_reason === "cancelled") {
          tags.push(el("span", { class: "tag cancelled", text: t("cancelled") }));
        }
        box.appendChild(el("p", { class: "alert-head", "data-status": d.status, "data-msg-type": d.msg_type }, tags.concat([
          el("strong", { text: d.headline || hazardName(d.hazard) }),
          el("br"),
          el("span", { class: "sub", text: [fmtTime(d.sent_at), d.level_name || d.level,
            t("delivered") + " " + fmt(n.delivered, 0) + "/" + fmt(n.recipients, 0),
            t("acks") + " " + fmt(n.acknowledged, 0),
            t("escalations") + " " + fmt(n.escalated || 0, 0)].join(" · ") }),
        ])));
        var head = el("tr", {}, [el("th", { text: t("recipient") }), el("th", { text: t("channel") }),
          el("th", { text: t("status") }), el("th", { text: t("acks") })]);
        box.appendChild(el("table", { class: "deliveries" }, [head].concat((d.recipients || []).slice(0, 50).map(function (r) {
          var channels = t("channels") || {};
          return el("tr", {}, [
            el("td", { text: r.name || ((r.role || "") + " #" + r.member_id) }),
            el("td", { text: channels[r.channel] || fmt(r.channel) }),
            el("td", { "data-status": r.status, text: statusName(r.status) + (r.escalated_at ? " · " + t("escalated") + " " + fmtTime(r.escalated_at) : "") }),
            el("td", { text: r.acknowledged_at ? fmtTime(r.acknowledged_at) : "–" }),
          ]);
        }))));
        var mineReports = reports.filter(function (f) { return (f.properties || {}).alert_id === d.id; });
        box.appendChild(el("p", { class: "sub", text: t("ground_reports") }));
        box.appendChild(mineReports.length ? el("ul", { class: "reports" }, mineReports.slice(0, 20).map(function (f) {
          return el("li", { text: fmtTime(f.properties.received_at) + ": " + (f.properties.text || "") });
        })) : el("p", { class: "muted", text: t("no_reports") }));
      });
    }).catch(function (err) {
      box.innerHTML = "";
      box.appendChild(el("p", { class: "error", text: t("load_failed") + ": " + (err.detail || err.message) }));
    });
  }

  // ---- wiring --------------------------------------------------------------------------
  document.getElementById("hazard").addEventListener("change", function (e) { setHazard(e.target.value); });
  document.querySelectorAll(".lang button").forEach(function (b) {
    b.addEventListener("click", function () {
      state.lang = b.getAttribute("data-lang");
      localStorage.setItem("siaga.lang", state.lang);
      applyLanguage();
    });
  });
  Object.keys(OVERLAYS).forEach(function (kind) {
    document.getElementById(OVERLAYS[kind].toggle).addEventListener("change", function () { applyToggle(kind); });
  });
  document.getElementById("show-zones").addEventListener("change", function () { applyZonesToggle(); refreshZones(); });
  var searchBox = document.getElementById("search");
  searchBox.addEventListener("input", onSearchInput);
  searchBox.addEventListener("keydown", function (e) {
    if (e.key === "Enter" && state.searchRows && state.searchRows.length) { e.preventDefault(); chooseResult(state.searchRows[0]); }
    if (e.key === "Escape") document.getElementById("search-results").hidden = true;
  });
  document.getElementById("signin").addEventListener("submit", function (e) {
    e.preventDefault();
    if (state.who) {
      state.key = ""; state.who = null;
      sessionStorage.removeItem("siaga.key");
      renderWho();
      if (state.lastCard) renderCard(state.lastCard);
      return;
    }
    var input = document.getElementById("api-key");
    state.key = input.value.trim();
    input.value = "";
    if (state.key) sessionStorage.setItem("siaga.key", state.key);
    checkKey().then(function () { if (state.lastCard) renderCard(state.lastCard); });
  });

  map.on("load", function () {
    addRiskLayers();
    addAreas();
    api(CONFIG.mapConfig, false).then(function (cfg) {
      addBasemap(cfg.basemap || { kind: "none" });
      var b = cfg.first_view;
      if (b && !savedView) map.fitBounds([[b[0], b[1]], [b[2], b[3]]], { padding: 30, duration: 0, maxZoom: 13 });
      refreshZones();
    }).catch(function () { /* the map works without its config */ });
    discoverOverlays();
    setInterval(function () { Object.keys(overlayCollections).forEach(addOverlay); }, CONFIG.overlayRefreshMs);
  });
  map.on("idle", updateTileStatus);
  map.on("moveend", function () { updateLabels(); refreshZones(); });
  map.on("error", function (e) {
    if (e && e.error && e.error.status) setStatus(t("load_failed") + " (" + e.error.status + ")");
  });

  applyLanguage();
  checkKey();
  // For operators' consoles and the end-to-end test.
  window.siaga = { map: map, state: state, selectCommunity: selectCommunity, setHazard: setHazard };
})();
