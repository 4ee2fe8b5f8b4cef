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
    deliveries: "/api/v1/communities/{code}/deliveries",
    whoami: "/api/v1/keys/me",
    collections: "/ogc/collections",
    overlayRefreshMs: 60000,
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
  var map = new maplibregl.Map({
    container: "map",
    style: {
      version: 8,
      sources: {},
      layers: [{ id: "background", type: "background", paint: { "background-color": "#dfe8ef" } }],
    },
    bounds: [[95, -11], [141, 6]],
    maxZoom: 17,
    attributionControl: false,
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
        if (id === "communities" && c.extent && c.extent.spatial && c.extent.spatial.bbox) {
          var b = c.extent.spatial.bbox[0];
          if (b && b.length >= 4 && !state.fitted) {
            state.fitted = true;
            map.fitBounds([[b[0], b[1]], [b[2], b[3]]], { padding: 30, duration: 0, maxZoom: 13 });
          }
        }
      });
      Object.keys(overlayCollections).forEach(addOverlay);
    }).catch(function () { /* no OGC API on this server: the map works without overlays */ });
  }
  function overlayUrl(kind) {
    return CONFIG.collections + "/" + encodeURIComponent(overlayCollections[kind]) + "/items?limit=1000";
  }
  function addOverlay(kind) {
    api(overlayUrl(kind), false).then(function (fc) {
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
    var title = pick(p, ["headline", "title", "event", "name", "place", "hazard"]) || t(kind);
    var rows = [];
    ["hazard", "magnitude", "mag", "severity", "urgency", "level", "status", "onset", "sent",
      "time", "occurred_at", "received_at", "source", "text"].forEach(function (k) {
      if (p[k] !== undefined && p[k] !== null && p[k] !== "") {
        var v = /time|_at|onset|sent/.test(k) ? fmtTime(p[k]) : fmt(p[k]);
        rows.push(el("tr", {}, [el("th", { text: k }), el("td", { text: v })]));
      }
    });
    var box = el("div", {}, [el("strong", { text: String(title) }), el("table", {}, rows)]);
    new maplibregl.Popup({ maxWidth: "280px" }).setLngLat(e.lngLat).setDOMContent(box).addTo(map);
  }

  // ---- the risk card -------------------------------------------------------------------
  function selectCommunity(c) {
    state.selected = c;
    if (map.getLayer("risk-selected")) map.setFilter("risk-selected", ["==", ["get", CONFIG.codeProp], c.code]);
    var panel = document.getElementById("panel");
    panel.innerHTML = "";
    panel.appendChild(el("h2", { text: c.name || c.code }));
    panel.appendChild(el("p", { class: "muted", text: t("loading") }));
    var url = CONFIG.riskCard.replace("{code}", encodeURIComponent(c.code)) + "?hazard=" + encodeURIComponent(state.hazard);
    api(url, true).then(function (card) {
      if (!state.selected || state.selected.code !== c.code) return;
      state.lastCard = { community: c, card: card };
      renderCard(state.lastCard);
    }).catch(function (err) {
      state.lastCard = { community: c, card: null, error: err };
      renderCard(state.lastCard);
    });
  }

  function kvTable(obj) {
    var rows = [];
    Object.keys(obj || {}).forEach(function (k) {
      var v = obj[k];
      if (v && typeof v === "object" && !Array.isArray(v)) {
        Object.keys(v).forEach(function (k2) {
          rows.push(el("tr", {}, [el("td", { text: k + " · " + k2 }), el("td", { class: "num", text: fmt(v[k2]) })]));
        });
      } else {
        rows.push(el("tr", {}, [el("td", { text: k }), el("td", { class: "num", text: fmt(v) })]));
      }
    });
    return el("table", {}, rows);
  }

  function component(card, names) {
    var v = pick(card, names);
    if (v && typeof v === "object") return pick(v, ["value", "score"]);
    return v;
  }
  function componentInputs(card, names) {
    var v = pick(card, names);
    if (v && typeof v === "object") return pick(v, ["inputs", "indicators", "components"]);
    return undefined;
  }

  function historyChart(history) {
    var pts = (history || []).map(function (h) {
      return { t: new Date(pick(h, ["computed_at", "at", "time", "date"])).getTime(), v: Number(pick(h, ["score", "risk", "value"])) };
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

  function exposureTable(exposure) {
    if (!exposure) return null;
    var rows = Array.isArray(exposure) ? exposure : Object.keys(exposure).map(function (k) {
      var v = exposure[k];
      return typeof v === "object" ? Object.assign({ class: k }, v) : { class: k, share: v };
    });
    if (rows.length === 0) return el("p", { class: "muted", text: "–" });
    var head = el("tr", {}, [
      el("th", { text: t("class") }), el("th", { text: t("population") }),
      el("th", { text: t("area") }), el("th", { text: t("share") }),
    ]);
    return el("table", {}, [head].concat(rows.map(function (r) {
      var share = pick(r, ["share", "fraction", "weight"]);
      return el("tr", {}, [
        el("td", { text: fmt(pick(r, ["class", "hazard_class", "name", "label"])) }),
        el("td", { class: "num", text: fmt(pick(r, ["population", "people", "exposed_population"]), 0) }),
        el("td", { class: "num", text: fmt(pick(r, ["area_km2", "area"]), 2) }),
        el("td", { class: "num", text: share == null ? "–" : fmt(share * 100, 1) + " %" }),
      ]);
    })));
  }

  function sourcesList(sources) {
    if (!sources) return null;
    var items = (Array.isArray(sources) ? sources : Object.keys(sources).map(function (k) {
      return typeof sources[k] === "object" ? Object.assign({ name: k }, sources[k]) : { name: k, detail: sources[k] };
    })).map(function (s) {
      if (typeof s !== "object") return el("li", { text: String(s) });
      var label = [pick(s, ["title", "name", "layer"]), pick(s, ["version"]) != null ? "v" + s.version : null,
        pick(s, ["source", "detail", "licence", "license"])].filter(Boolean).join(" · ");
      return el("li", { text: label });
    });
    return el("ul", {}, items);
  }

  function renderCard(entry) {
    var panel = document.getElementById("panel");
    var c = entry.community, card = entry.card;
    panel.innerHTML = "";
    var name = (card && pick(card, ["name", "community_name"])) || c.name || c.code;
    panel.appendChild(el("h2", { text: name }));
    var sub = [c.code, card && pick(card, ["district_name", "regency_name"]), hazardName(state.hazard)].filter(Boolean).join(" · ");
    panel.appendChild(el("p", { class: "sub", text: sub }));
    if (!card) {
      var msg = entry.error && entry.error.status === 404 ? t("no_score") : t("load_failed") + ": " + (entry.error && (entry.error.detail || entry.error.message));
      panel.appendChild(el("p", { class: entry.error && entry.error.status === 404 ? "muted" : "error", text: msg }));
      renderDeliveriesSection(panel, c.code);
      return;
    }
    var level = pick(card, ["level", "risk_level"]) || c.level || "unknown";
    panel.appendChild(el("p", {}, [
      el("span", { text: t("risk_level") + ": " }),
      el("span", { class: "badge", id: "risk-level", "data-level": level, style: "background:" + levelColor(level), text: levelName(level) }),
    ]));
    var H = component(card, ["hazard", "H", "h", "hazard_score"]);
    var V = component(card, ["vulnerability", "V", "v", "vulnerability_score"]);
    var C = component(card, ["capacity", "C", "c", "capacity_score"]);
    var R = pick(card, ["score", "risk", "R", "risk_score"]);
    panel.appendChild(el("p", { class: "formula", text: "R = " + fmt(H) + " × " + fmt(V) + " / " + fmt(C) + " = " + fmt(typeof R === "object" ? pick(R, ["value", "score"]) : R) }));
    panel.appendChild(el("p", { class: "muted", text: t("formula") }));

    panel.appendChild(el("h3", { text: t("inputs") }));
    var inputs = pick(card, ["inputs"]);
    var parts = [
      [t("hazard_h"), componentInputs(card, ["hazard", "H"])],
      [t("vulnerability_v"), componentInputs(card, ["vulnerability", "V"])],
      [t("capacity_c"), componentInputs(card, ["capacity", "C"])],
    ];
    if (inputs) panel.appendChild(kvTable(inputs));
    parts.forEach(function (p) {
      if (p[1]) { panel.appendChild(el("p", { class: "sub", text: p[0] })); panel.appendChild(kvTable(p[1])); }
    });

    panel.appendChild(el("h3", { text: t("exposure") }));
    panel.appendChild(exposureTable(pick(card, ["exposure", "exposure_by_class", "classes"])) || el("p", { class: "muted", text: "–" }));
    panel.appendChild(el("h3", { text: t("sources") }));
    panel.appendChild(sourcesList(pick(card, ["sources", "data_sources", "layers"])) || el("p", { class: "muted", text: "–" }));
    panel.appendChild(el("h3", { text: t("history") }));
    panel.appendChild(historyChart(pick(card, ["history"])));
    var at = pick(card, ["computed_at", "updated_at", "as_of"]);
    if (at) panel.appendChild(el("p", { class: "sub", text: t("computed_at") + ": " + fmtTime(at) }));
    renderDeliveriesSection(panel, c.code);
  }

  function renderDeliveriesSection(panel, code) {
    panel.appendChild(el("h3", { text: t("deliveries") }));
    var box = el("div", { id: "deliveries" });
    panel.appendChild(box);
    if (!state.who) { box.appendChild(el("p", { class: "muted", text: t("deliveries_signin") })); return; }
    loadDeliveries(code);
  }

  function loadDeliveries(code) {
    var box = document.getElementById("deliveries");
    if (!box || !state.key) return;
    box.textContent = t("loading");
    api(CONFIG.deliveries.replace("{code}", encodeURIComponent(code)), true).then(function (doc) {
      var rows = Array.isArray(doc) ? doc : pick(doc, ["deliveries", "items", "results"]) || [];
      box.innerHTML = "";
      if (rows.length === 0) { box.appendChild(el("p", { class: "muted", text: t("no_deliveries") })); return; }
      var head = el("tr", {}, [el("th", { text: t("time") }), el("th", { text: t("channel") }), el("th", { text: t("status") }), el("th", { text: t("acks") })]);
      box.appendChild(el("table", {}, [head].concat(rows.slice(0, 100).map(function (d) {
        var who = pick(d, ["member_name", "name", "recipient"]);
        var acked = pick(d, ["acknowledged_at", "acked_at", "ack_at"]);
        return el("tr", {}, [
          el("td", { text: fmtTime(pick(d, ["sent_at", "created_at", "updated_at"])) + (who ? " · " + who : "") }),
          el("td", { text: fmt(pick(d, ["channel"])) }),
          el("td", { text: fmt(pick(d, ["status", "state"])) }),
          el("td", { text: acked ? fmtTime(acked) : "–" }),
        ]);
      }))));
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
    discoverOverlays();
    setInterval(function () { Object.keys(overlayCollections).forEach(addOverlay); }, CONFIG.overlayRefreshMs);
  });
  map.on("idle", updateTileStatus);
  map.on("error", function (e) {
    if (e && e.error && e.error.status) setStatus(t("load_failed") + " (" + e.error.status + ")");
  });

  applyLanguage();
  checkKey();
  // For operators' consoles and the end-to-end test.
  window.siaga = { map: map, state: state, selectCommunity: selectCommunity, setHazard: setHazard };
})();
