/// The web app at /: one page with its script and style inline; everything it shows comes from
/// the API of the same server, and it loads nothing from anywhere else.
///
/// The map is drawn on one canvas (no element per track), bucketed by colour, with a grid over
/// the map's coordinates for hit-testing, so a 50,000-track library pans and zooms smoothly.
/// Library text is only ever set as `textContent`, never parsed as HTML.
enum WebApp {
    static let contentSecurityPolicy =
        "default-src 'self'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src 'self' data:; media-src 'self' blob:"

    static let html = #"""
<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>genred</title>
<style>
  * { box-sizing: border-box; }
  body { margin: 0; font: 14px system-ui, sans-serif; color: #222; display: flex; height: 100vh; overflow: hidden; }
  #left { flex: 1; position: relative; min-width: 0; }
  #map { position: absolute; inset: 0; width: 100%; height: 100%; cursor: crosshair; background: #fafafa; }
  #bar { position: absolute; top: 8px; left: 8px; right: 8px; display: flex; gap: 6px; align-items: center; flex-wrap: wrap; }
  #bar input, #bar select, #bar button { font: inherit; padding: 3px 6px; }
  #search { width: 16em; }
  #info { color: #555; }
  #legend { position: absolute; bottom: 8px; left: 8px; max-height: 40%; overflow: auto; background: rgba(255,255,255,.85);
            padding: 4px 8px; border-radius: 4px; font-size: 12px; }
  #legend span.sw { display: inline-block; width: 10px; height: 10px; margin-right: 4px; border-radius: 2px; }
  #tip { position: absolute; pointer-events: none; background: #222; color: #fff; padding: 2px 6px; border-radius: 3px;
         font-size: 12px; display: none; white-space: nowrap; }
  #side { width: 400px; border-left: 1px solid #ddd; overflow: auto; padding: 10px; display: flex; flex-direction: column; gap: 8px; }
  #side h2 { font-size: 13px; margin: 6px 0 2px; text-transform: uppercase; color: #666; letter-spacing: .04em; }
  #now-title { font-weight: 600; }
  #now-path { color: #777; font-size: 12px; word-break: break-all; }
  #heat { width: 100%; height: 28px; display: block; background: #eee; }
  #heat-legend { font-size: 11px; color: #555; }
  audio { width: 100%; }
  ol { margin: 0; padding-left: 1.6em; }
  li { cursor: pointer; padding: 2px 0; }
  li:hover { background: #f0f4ff; }
  li small { color: #777; }
  .row { display: flex; gap: 6px; flex-wrap: wrap; }
  button { cursor: pointer; }
  #auth { display: none; }
</style>
</head>
<body>
<div id="left">
  <canvas id="map" aria-label="map of the library"></canvas>
  <div id="bar">
    <input id="search" type="search" placeholder="search title, artist, album, path">
    <label>colour <select id="colour"></select></label>
    <label>by <select id="features"><option>embedding</option><option>genres</option><option>tags</option></select></label>
    <button id="reset" title="show the whole map">fit</button>
    <span id="info">loading…</span>
    <span id="auth"><input id="token" type="password" placeholder="token"> <button id="token-ok">use token</button></span>
  </div>
  <div id="legend"></div>
  <div id="tip"></div>
</div>
<div id="side">
  <div>
    <div id="now-title">Click a point to play it.</div>
    <div id="now-path"></div>
  </div>
  <audio id="audio" controls preload="auto"></audio>
  <canvas id="heat" width="380" height="28" title="the window-by-window timeline: each cell is a window, coloured by its strongest label"></canvas>
  <div id="heat-legend"></div>
  <div class="row">
    <button id="set-start" disabled>path from here</button>
    <button id="set-end" disabled>path to here</button>
    <span id="path-ends"></span>
  </div>
  <h2>Similar</h2>
  <ol id="similar"></ol>
  <div class="row"><a id="similar-m3u" href="#" download="similar.m3u" hidden>save as M3U</a></div>
  <h2>Path</h2>
  <div class="row"><label>tracks <input id="path-count" type="number" min="2" max="500" value="25" style="width:5em"></label>
    <button id="path-go" disabled>find path</button></div>
  <ol id="path"></ol>
  <div class="row"><a id="path-m3u" href="#" download="path.m3u" hidden>save as M3U</a></div>
  <h2>Search results</h2>
  <ol id="results"></ol>
  <div class="row"><a id="results-m3u" href="#" download="search.m3u" hidden>save as M3U</a></div>
</div>
<script>
"use strict";
const $ = (id) => document.getElementById(id);
const state = {
  token: sessionStorage.getItem("genred-token") || "",
  ids: null, xs: null, ys: null, cs: null, names: null, legend: [], byId: new Map(),
  buckets: [], grid: null, view: { cx: 0, cy: 0, scale: 1 }, highlight: new Set(), current: null,
  pathStart: null, pathEnd: null, drawn: 0, frame: 0,
};
window.genred = state;

async function api(path) {
  const headers = state.token ? { Authorization: "Bearer " + state.token } : {};
  const r = await fetch(path, { headers });
  if (r.status === 401) { $("auth").style.display = "inline"; throw new Error("this server needs a token"); }
  const body = await r.json();
  if (!r.ok) throw new Error(body.error || r.statusText);
  return body;
}

function setInfo(text) { $("info").textContent = text; }

// The map: one canvas, points bucketed by colour, a grid over map coordinates for hit-testing.
const canvas = $("map"), ctx = canvas.getContext("2d");
function resize() {
  const r = canvas.getBoundingClientRect(), d = window.devicePixelRatio || 1;
  canvas.width = Math.max(1, Math.round(r.width * d)); canvas.height = Math.max(1, Math.round(r.height * d));
  ctx.setTransform(d, 0, 0, d, 0, 0);
  schedule();
}
function toScreen(x, y) {
  const r = canvas.getBoundingClientRect(), v = state.view;
  return [(x - v.cx) * v.scale + r.width / 2, (y - v.cy) * v.scale + r.height / 2];
}
function toMap(sx, sy) {
  const r = canvas.getBoundingClientRect(), v = state.view;
  return [(sx - r.width / 2) / v.scale + v.cx, (sy - r.height / 2) / v.scale + v.cy];
}
function schedule() { if (!state.frame) state.frame = requestAnimationFrame(draw); }
function draw() {
  state.frame = 0;
  const r = canvas.getBoundingClientRect();
  ctx.clearRect(0, 0, r.width, r.height);
  if (!state.xs) return;
  const v = state.view, w = r.width, h = r.height, n = state.xs.length;
  const size = n > 20000 ? 2 : n > 2000 ? 3.5 : 6, half = size / 2;
  let drawn = 0;
  for (let b = 0; b < state.buckets.length; b++) {
    const members = state.buckets[b];
    if (!members.length) continue;
    ctx.fillStyle = state.legend[b].colour;
    for (const i of members) {
      const sx = (state.xs[i] - v.cx) * v.scale + w / 2, sy = (state.ys[i] - v.cy) * v.scale + h / 2;
      if (sx < -4 || sy < -4 || sx > w + 4 || sy > h + 4) continue;
      ctx.fillRect(sx - half, sy - half, size, size);
      drawn++;
    }
  }
  ctx.lineWidth = 1.5;
  ctx.strokeStyle = "#000";
  for (const i of state.highlight) {
    const [sx, sy] = toScreen(state.xs[i], state.ys[i]);
    ctx.beginPath(); ctx.arc(sx, sy, 5, 0, 2 * Math.PI); ctx.stroke();
  }
  for (const [i, colour] of [[state.pathStart, "#2f9e44"], [state.pathEnd, "#d62839"], [state.current, "#000"]]) {
    if (i == null) continue;
    const [sx, sy] = toScreen(state.xs[i], state.ys[i]);
    ctx.strokeStyle = colour; ctx.lineWidth = 3;
    ctx.beginPath(); ctx.arc(sx, sy, 8, 0, 2 * Math.PI); ctx.stroke();
  }
  state.drawn = drawn;
}
function fit() {
  if (!state.xs || !state.xs.length) return;
  let x0 = Infinity, x1 = -Infinity, y0 = Infinity, y1 = -Infinity;
  for (let i = 0; i < state.xs.length; i++) {
    x0 = Math.min(x0, state.xs[i]); x1 = Math.max(x1, state.xs[i]);
    y0 = Math.min(y0, state.ys[i]); y1 = Math.max(y1, state.ys[i]);
  }
  const r = canvas.getBoundingClientRect();
  state.view.cx = (x0 + x1) / 2; state.view.cy = (y0 + y1) / 2;
  state.view.scale = 0.9 * Math.min(r.width / Math.max(x1 - x0, 1e-6), r.height / Math.max(y1 - y0, 1e-6));
  schedule();
}
function buildGrid() {
  const n = state.xs.length, cells = Math.max(1, Math.ceil(Math.sqrt(n / 4)));
  let x0 = Infinity, x1 = -Infinity, y0 = Infinity, y1 = -Infinity;
  for (let i = 0; i < n; i++) {
    x0 = Math.min(x0, state.xs[i]); x1 = Math.max(x1, state.xs[i]);
    y0 = Math.min(y0, state.ys[i]); y1 = Math.max(y1, state.ys[i]);
  }
  const cw = Math.max((x1 - x0) / cells, 1e-9), ch = Math.max((y1 - y0) / cells, 1e-9);
  const grid = { x0, y0, cw, ch, cells, slots: new Map() };
  for (let i = 0; i < n; i++) {
    const key = Math.min(cells - 1, Math.floor((state.xs[i] - x0) / cw)) * cells + Math.min(cells - 1, Math.floor((state.ys[i] - y0) / ch));
    let slot = grid.slots.get(key);
    if (!slot) grid.slots.set(key, slot = []);
    slot.push(i);
  }
  state.grid = grid;
}
// The point nearest a screen position, within 8 pixels.
function pick(sx, sy) {
  const g = state.grid;
  if (!g) return null;
  const [mx, my] = toMap(sx, sy), radius = 8 / state.view.scale;
  const cx0 = Math.floor((mx - radius - g.x0) / g.cw), cx1 = Math.floor((mx + radius - g.x0) / g.cw);
  const cy0 = Math.floor((my - radius - g.y0) / g.ch), cy1 = Math.floor((my + radius - g.y0) / g.ch);
  let best = null, bestD = radius * radius;
  for (let cx = Math.max(0, cx0); cx <= Math.min(g.cells - 1, cx1); cx++) {
    for (let cy = Math.max(0, cy0); cy <= Math.min(g.cells - 1, cy1); cy++) {
      for (const i of g.slots.get(cx * g.cells + cy) || []) {
        const d = (state.xs[i] - mx) ** 2 + (state.ys[i] - my) ** 2;
        if (d <= bestD) { bestD = d; best = i; }
      }
    }
  }
  return best;
}
// Where a track is drawn, in page coordinates relative to the canvas (for tests and links).
state.screenPosition = (id) => { const i = state.byId.get(id); return i == null ? null : toScreen(state.xs[i], state.ys[i]); };

let drag = null;
canvas.addEventListener("mousedown", (e) => { drag = { x: e.offsetX, y: e.offsetY, moved: false }; });
window.addEventListener("mouseup", (e) => {
  if (drag && !drag.moved && e.target === canvas) {
    const i = pick(e.offsetX, e.offsetY);
    if (i != null) play(state.ids[i]);
  }
  drag = null;
});
canvas.addEventListener("mousemove", (e) => {
  if (drag) {
    const dx = e.offsetX - drag.x, dy = e.offsetY - drag.y;
    if (Math.abs(dx) + Math.abs(dy) > 2) drag.moved = true;
    if (drag.moved) {
      state.view.cx -= dx / state.view.scale; state.view.cy -= dy / state.view.scale;
      drag.x = e.offsetX; drag.y = e.offsetY; schedule();
    }
    return;
  }
  const i = pick(e.offsetX, e.offsetY), tip = $("tip");
  if (i == null) { tip.style.display = "none"; return; }
  tip.textContent = state.names[i] + " · " + state.legend[state.cs[i]].key;
  tip.style.left = (e.offsetX + 12) + "px"; tip.style.top = (e.offsetY + 12) + "px"; tip.style.display = "block";
});
canvas.addEventListener("wheel", (e) => {
  e.preventDefault();
  const [mx, my] = toMap(e.offsetX, e.offsetY), factor = Math.exp(-e.deltaY * 0.0015);
  state.view.scale *= factor;
  // Keep the point under the pointer where it is.
  const [nx, ny] = toMap(e.offsetX, e.offsetY);
  state.view.cx += mx - nx; state.view.cy += my - ny;
  schedule();
}, { passive: false });

async function loadMap() {
  const colour = $("colour").value || "genre", features = $("features").value;
  setInfo("computing the map…");
  const m = await api(`/api/map?features=${encodeURIComponent(features)}&colour=${encodeURIComponent(colour)}`);
  const n = m.points.length;
  state.ids = new Array(n); state.names = new Array(n);
  state.xs = new Float32Array(n); state.ys = new Float32Array(n); state.cs = new Int32Array(n);
  state.byId = new Map();
  m.points.forEach((p, i) => {
    state.ids[i] = p.id; state.xs[i] = p.x; state.ys[i] = -p.y; state.cs[i] = p.c; state.names[i] = p.name;
    state.byId.set(p.id, i);
  });
  state.legend = m.legend;
  state.buckets = m.legend.map(() => []);
  for (let i = 0; i < n; i++) state.buckets[state.cs[i]].push(i);
  if ($("colour").options.length === 0) {
    for (const c of m.colours) { const o = document.createElement("option"); o.textContent = c; $("colour").appendChild(o); }
    $("colour").value = colour;
  }
  const legend = $("legend");
  legend.replaceChildren();
  for (const entry of m.legend.slice(0, 30)) {
    const div = document.createElement("div"), sw = document.createElement("span");
    sw.className = "sw"; sw.style.background = entry.colour;
    div.append(sw, document.createTextNode(`${entry.key || "(none)"} (${entry.count})`));
    legend.appendChild(div);
  }
  if (m.legend.length > 30) legend.appendChild(document.createTextNode(`… ${m.legend.length - 30} more`));
  buildGrid();
  if (!state.fitted) { fit(); state.fitted = true; }
  setInfo(`${n} tracks by ${m.features}` + (m.note ? ` (${m.note})` : ""));
  schedule();
}

function trackName(t) {
  if (t.artist && t.title) return `${t.artist} – ${t.title}`;
  return t.title || t.artist || t.path.split("/").pop();
}
function listTracks(ol, items, link, m3uQuery) {
  ol.replaceChildren();
  for (const item of items) {
    const t = item.track || item, li = document.createElement("li"), small = document.createElement("small");
    li.textContent = trackName(t) + " ";
    const facts = [];
    if (item.similarity != null) facts.push(item.similarity.toFixed(2));
    if (item.reason) facts.push(item.reason);
    else if (t.genres && t.genres.length) facts.push(t.genres.join(", "));
    small.textContent = facts.join(" · ");
    li.appendChild(small);
    li.dataset.id = t.id;
    li.addEventListener("click", () => play(t.id));
    ol.appendChild(li);
  }
  link.hidden = items.length === 0;
  link.dataset.query = m3uQuery;
}
// Playlists are fetched (with the token, when there is one) and saved from a blob.
for (const id of ["similar-m3u", "path-m3u", "results-m3u"]) {
  $(id).addEventListener("click", async (e) => {
    e.preventDefault();
    const headers = state.token ? { Authorization: "Bearer " + state.token } : {};
    const r = await fetch("/api/playlist.m3u?" + e.target.dataset.query, { headers });
    const url = URL.createObjectURL(await r.blob()), a = document.createElement("a");
    a.href = url; a.download = e.target.getAttribute("download"); a.click();
    setTimeout(() => URL.revokeObjectURL(url), 10000);
  });
}

function hashColour(text) {
  let h = 0;
  for (const ch of text) h = (h * 31 + ch.codePointAt(0)) >>> 0;
  return `hsl(${h % 360}, 60%, 50%)`;
}
function drawHeat(detail) {
  const heat = $("heat"), c = heat.getContext("2d"), w = heat.width, h = heat.height;
  c.clearRect(0, 0, w, h);
  const windows = detail.timeline || [];
  const names = new Map((detail.scores || []).map((s) => [s.label, s.name]));
  const seen = new Map();
  windows.forEach((win, k) => {
    const top = win.top[0];
    if (!top) return;
    const colour = hashColour(top.label);
    seen.set(top.label, colour);
    c.globalAlpha = Math.max(0.15, Math.min(1, top.p));
    c.fillStyle = colour;
    const x0 = Math.floor(k * w / windows.length), x1 = Math.floor((k + 1) * w / windows.length);
    c.fillRect(x0, 0, Math.max(1, x1 - x0 - (windows.length < 100 ? 1 : 0)), h);
  });
  c.globalAlpha = 1;
  const legend = $("heat-legend");
  legend.replaceChildren();
  for (const [label, colour] of seen) {
    const sw = document.createElement("span");
    sw.style.cssText = `display:inline-block;width:9px;height:9px;margin:0 3px 0 8px;background:${colour}`;
    legend.append(sw, document.createTextNode(names.get(label) || label));
  }
}

async function play(id) {
  const i = state.byId.get(id);
  state.current = i == null ? null : i;
  schedule();
  const audio = $("audio");
  if (state.token) {
    // An <audio> element cannot send the token: fetch the file, then play it from memory.
    const r = await fetch(`/api/tracks/${id}/audio`, { headers: { Authorization: "Bearer " + state.token } });
    audio.src = URL.createObjectURL(await r.blob());
  } else {
    audio.src = `/api/tracks/${id}/audio`;
  }
  audio.play().catch(() => {});
  $("set-start").disabled = false; $("set-end").disabled = false;
  const [detail, similar] = await Promise.all([api(`/api/tracks/${id}`), api(`/api/tracks/${id}/similar?count=15`)]);
  $("now-title").textContent = trackName(detail);
  $("now-path").textContent = detail.path + (detail.genres ? " · " + detail.genres.slice(0, 3).map((g) => g.name).join(", ") : "");
  drawHeat(detail);
  listTracks($("similar"), similar.matches, $("similar-m3u"), `similar=${id}&count=15`);
  state.highlight = new Set(similar.matches.map((m) => state.byId.get(m.track.id)).filter((k) => k != null));
  state.playing = id;
  schedule();
}

function showEnds() {
  const name = (i) => (i == null ? "?" : state.names[i]);
  $("path-ends").textContent = `${name(state.pathStart)} → ${name(state.pathEnd)}`;
  $("path-go").disabled = state.pathStart == null || state.pathEnd == null;
  schedule();
}
$("set-start").addEventListener("click", () => { state.pathStart = state.byId.get(state.playing); showEnds(); });
$("set-end").addEventListener("click", () => { state.pathEnd = state.byId.get(state.playing); showEnds(); });
$("path-go").addEventListener("click", async () => {
  const from = state.ids[state.pathStart], to = state.ids[state.pathEnd], count = $("path-count").value;
  try {
    const p = await api(`/api/path?from=${from}&to=${to}&count=${count}`);
    listTracks($("path"), p.matches, $("path-m3u"), `from=${from}&to=${to}&count=${count}`);
    state.highlight = new Set(p.matches.map((m) => state.byId.get(m.track.id)).filter((k) => k != null));
    schedule();
    if (p.matches.length) play(p.matches[0].track.id);
  } catch (e) { setInfo(e.message); }
});

let searchTimer = 0;
$("search").addEventListener("input", () => {
  clearTimeout(searchTimer);
  searchTimer = setTimeout(async () => {
    const q = $("search").value.trim();
    if (!q) { state.highlight = new Set(); $("results").replaceChildren(); schedule(); return; }
    try {
      const r = await api(`/api/tracks?q=${encodeURIComponent(q)}&limit=500`);
      listTracks($("results"), r.tracks, $("results-m3u"), `q=${encodeURIComponent(q)}&limit=500`);
      state.highlight = new Set(r.tracks.map((t) => state.byId.get(t.id)).filter((k) => k != null));
      setInfo(`${r.total} tracks match`);
      schedule();
    } catch (e) { setInfo(e.message); }
  }, 200);
});
$("colour").addEventListener("change", () => loadMap().catch((e) => setInfo(e.message)));
$("features").addEventListener("change", () => { state.fitted = false; loadMap().catch((e) => setInfo(e.message)); });
$("reset").addEventListener("click", fit);
$("token-ok").addEventListener("click", () => {
  state.token = $("token").value; sessionStorage.setItem("genred-token", state.token);
  $("auth").style.display = "none"; loadMap().catch((e) => setInfo(e.message));
});
window.addEventListener("resize", resize);
resize();
loadMap().catch((e) => setInfo(e.message));
</script>
</body>
</html>
"""#
}
