// The face map: every encoding as a dot on a canvas, decoded faces drawn at their points where they do not
// overlap, a face under the pointer on hover, wheel zoom, drag pan, double-click to fit, click to choose.
//
// Everything after the first render happens here, in the page: zooming and hovering never wait for Python.
// Python sends the points and a sprite-sheet URL (content-hashed, so the browser fetches it once per
// checkpoint) and hears back only a click, as a trigger value "clicked" (the row).
//
// The thumbnails are chosen by explorer.analysis.sprites.place_thumbnails's rule, repeated at every zoom: points are
// tried in a fixed random priority order and kept when no kept face is closer than one face in x and y.

// Draw face i of the sprite sheet into the rectangle (x, y, s, s) of ctx.
function drawFace(m, ctx, i, x, y, s) {
  const t = m.data.thumb, T = m.sheet.tile, sx = (i % m.data.cols) * t, sy = Math.floor(i / m.data.cols) * t;
  const tile = m.sheet.tiles[Math.floor(sy / T) * m.sheet.across + Math.floor(sx / T)];
  ctx.drawImage(tile, sx % T, sy % T, t, t, x, y, s, s);
}

function create(root) {
  const wrap = document.createElement("div");
  wrap.className = "facemap";
  const canvas = document.createElement("canvas");
  const tip = document.createElement("div");
  tip.className = "tip";
  const tipCanvas = document.createElement("canvas");
  const tipText = document.createElement("div");
  tip.append(tipCanvas, tipText);
  const legend = document.createElement("div");
  legend.className = "legend";
  const help = document.createElement("div");
  help.className = "help";
  help.textContent = "wheel: zoom · drag: pan · double-click: fit · click: choose a face";
  wrap.append(canvas, tip, legend, help);
  root.appendChild(wrap);
  const m = {
    wrap, canvas, tip, tipCanvas, tipText, legend, ctx: canvas.getContext("2d"),
    data: null, key: null, sheet: null, sheetUrl: null, view: null, px: null, grid: null, hover: -1,
    drag: null, frame: 0, input: null,
    stats: {draws: 0, lastDrawMs: 0, drawMs: [], hoverMs: [], inputMs: [], shown: 0},
    setTrigger: null, width: 0, height: 0,
  };
  wrap.__facemap = m;  // tests and the bench read m.stats
  const ro = new ResizeObserver(() => resize(m));
  ro.observe(wrap);
  m.ro = ro;
  canvas.addEventListener("wheel", (e) => onWheel(m, e), {passive: false});
  canvas.addEventListener("pointerdown", (e) => onDown(m, e));
  canvas.addEventListener("pointermove", (e) => onMove(m, e));
  canvas.addEventListener("pointerup", (e) => onUp(m, e));
  canvas.addEventListener("pointerleave", () => { m.hover = -1; m.tip.style.display = "none"; m.wrap.dataset.hover = ""; });
  canvas.addEventListener("dblclick", () => { fit(m); request(m); });
  return m;
}

function resize(m) {
  const w = Math.max(200, Math.floor(m.wrap.clientWidth));
  const h = m.data ? m.data.height : 560;
  const dpr = window.devicePixelRatio || 1;
  if (w === m.width && h === m.height) return;
  const old = m.width;
  m.width = w; m.height = h;
  m.canvas.width = Math.round(w * dpr); m.canvas.height = Math.round(h * dpr);
  m.canvas.style.width = w + "px"; m.canvas.style.height = h + "px";
  m.ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  if ((!m.view || !old) && m.data) fit(m);  // a resize later keeps the zoom; the first size fits the points
  request(m);
}

// view: data point (cx, cy) at the canvas centre, `scale` pixels per data unit (one scale for both axes)
function fit(m) {
  const d = m.data;
  if (!d || !m.width) return;
  let x0 = Infinity, x1 = -Infinity, y0 = Infinity, y1 = -Infinity;
  for (let i = 0; i < d.x.length; i++) {
    x0 = Math.min(x0, d.x[i]); x1 = Math.max(x1, d.x[i]);
    y0 = Math.min(y0, d.y[i]); y1 = Math.max(y1, d.y[i]);
  }
  const pad = d.thumb_px / 2 + 8, top = 24;  // room for the legend above the points
  const scale = Math.min((m.width - 2 * pad) / Math.max(x1 - x0, 1e-9),
                         (m.height - 2 * pad - top) / Math.max(y1 - y0, 1e-9));
  m.view = {cx: (x0 + x1) / 2, cy: (y0 + y1) / 2 + top / 2 / scale, scale};
}

function toPx(m, i) {
  const v = m.view;
  return [m.width / 2 + (m.data.x[i] - v.cx) * v.scale, m.height / 2 - (m.data.y[i] - v.cy) * v.scale];
}

function request(m) {
  if (m.frame) return;
  m.frame = requestAnimationFrame(() => { m.frame = 0; draw(m); });
}

function draw(m) {
  const d = m.data;
  if (!d || !m.view) return;
  const t0 = performance.now();
  const ctx = m.ctx, W = m.width, H = m.height, n = d.x.length;
  ctx.clearRect(0, 0, W, H);
  ctx.fillStyle = "#ffffff";
  ctx.fillRect(0, 0, W, H);
  // positions once per frame; a grid of 12-pixel cells over them answers "which point is under the pointer"
  const px = m.px && m.px.length === 2 * n ? m.px : new Float32Array(2 * n);
  const cell = 12, gw = Math.ceil(W / cell) + 1, gh = Math.ceil(H / cell) + 1;
  const head = new Int32Array(gw * gh).fill(-1), next = new Int32Array(n).fill(-1);
  const v = m.view;
  for (let i = 0; i < n; i++) {
    const x = W / 2 + (d.x[i] - v.cx) * v.scale, y = H / 2 - (d.y[i] - v.cy) * v.scale;
    px[2 * i] = x; px[2 * i + 1] = y;
    if (x >= 0 && x < W && y >= 0 && y < H) {
      const g = Math.floor(y / cell) * gw + Math.floor(x / cell);
      next[i] = head[g]; head[g] = i;
    }
  }
  m.px = px; m.grid = {head, next, cell, gw, gh};
  // dots, one path per colour (a fill per colour, not per point)
  const r = d.dot_px;
  for (let c = 0; c < d.palette.length; c++) {
    ctx.fillStyle = d.palette[c];
    ctx.beginPath();
    for (const i of m.byColor[c]) {
      const x = px[2 * i], y = px[2 * i + 1];
      if (x < -r || x > W + r || y < -r || y > H + r) continue;
      ctx.rect(x - r / 2, y - r / 2, r, r);
    }
    ctx.fill();
  }
  // faces: greedy, in priority order, no two closer than a face (plus a 2-pixel gap) in both x and y
  let shown = 0;
  if (d.faces && m.sheet) {
    const s = d.thumb_px, gap = s + 2, h = s / 2;
    const fw = Math.ceil(W / gap) + 2, occupied = new Map();
    for (let k = 0; k < d.order.length && shown < d.max_faces; k++) {
      const i = d.order[k];
      const x = px[2 * i], y = px[2 * i + 1];
      if (x < h || x > W - h || y < h || y > H - h) continue;
      const gx = Math.floor(x / gap), gy = Math.floor(y / gap);
      let free = true;
      for (let dy = -1; dy <= 1 && free; dy++) {
        for (let dx = -1; dx <= 1; dx++) {
          const j = occupied.get((gy + dy) * fw + gx + dx);
          if (j !== undefined && Math.abs(px[2 * j] - x) < gap && Math.abs(px[2 * j + 1] - y) < gap) { free = false; break; }
        }
      }
      if (!free) continue;
      occupied.set(gy * fw + gx, i);
      drawFace(m, ctx, i, x - h, y - h, s);
      ctx.strokeStyle = d.palette[d.c[i]];
      ctx.lineWidth = 2;
      ctx.strokeRect(x - h, y - h, s, s);
      shown++;
    }
  }
  // the chosen row: a ring
  if (d.selected !== null && d.selected !== undefined && d.selected < n) {
    const x = px[2 * d.selected], y = px[2 * d.selected + 1];
    ctx.strokeStyle = "#111"; ctx.lineWidth = 2;
    ctx.beginPath(); ctx.arc(x, y, 9, 0, 2 * Math.PI); ctx.stroke();
  }
  const t1 = performance.now(), ms = t1 - t0;
  if (m.input !== null) {
    // from the wheel or drag event to this frame's drawing done (the browser paints right after)
    m.stats.inputMs.push(t1 - m.input); if (m.stats.inputMs.length > 500) m.stats.inputMs.shift();
    m.input = null;
  }
  m.stats.draws++; m.stats.lastDrawMs = ms; m.stats.shown = shown;
  m.stats.drawMs.push(ms); if (m.stats.drawMs.length > 500) m.stats.drawMs.shift();
  m.wrap.dataset.draws = String(m.stats.draws);
  m.wrap.dataset.shown = String(shown);
}

function nearest(m, x, y) {
  const g = m.grid;
  if (!g) return -1;
  const gx = Math.floor(x / g.cell), gy = Math.floor(y / g.cell);
  let best = -1, bd = 8 * 8;  // within 8 pixels
  for (let dy = -1; dy <= 1; dy++) {
    for (let dx = -1; dx <= 1; dx++) {
      const cx = gx + dx, cy = gy + dy;
      if (cx < 0 || cy < 0 || cx >= g.gw || cy >= g.gh) continue;
      for (let i = g.head[cy * g.gw + cx]; i >= 0; i = g.next[i]) {
        const ex = m.px[2 * i] - x, ey = m.px[2 * i + 1] - y, dd = ex * ex + ey * ey;
        if (dd < bd) { bd = dd; best = i; }
      }
    }
  }
  return best;
}

function showTip(m, i, x, y, t0) {
  const d = m.data;
  if (i < 0 || !m.sheet) { m.tip.style.display = "none"; m.wrap.dataset.hover = ""; return; }
  const s = d.tip_px;
  if (m.tipCanvas.width !== s) { m.tipCanvas.width = s; m.tipCanvas.height = s; }
  const c = m.tipCanvas.getContext("2d");
  c.imageSmoothingEnabled = true;
  drawFace(m, c, i, 0, 0, s);
  m.tipText.textContent = d.labels ? d.labels[i] : "row " + i;
  m.tip.style.display = "block";
  const left = x + 16 + s > m.width ? x - 16 - s : x + 16;
  const top = Math.min(Math.max(0, y - s / 2), m.height - s - 24);
  m.tip.style.left = left + "px"; m.tip.style.top = top + "px";
  m.wrap.dataset.hover = String(i);
  if (t0 !== undefined) {
    // time from the pointer event to the frame that shows the face
    requestAnimationFrame(() => {
      m.stats.hoverMs.push(performance.now() - t0);
      if (m.stats.hoverMs.length > 500) m.stats.hoverMs.shift();
    });
  }
}

function pos(m, e) {
  const r = m.canvas.getBoundingClientRect();
  return [e.clientX - r.left, e.clientY - r.top];
}

function onWheel(m, e) {
  if (!m.view) return;
  e.preventDefault();
  if (m.input === null) m.input = performance.now();
  const [x, y] = pos(m, e);
  const v = m.view, k = Math.exp(-e.deltaY * 0.0015);
  // keep the data point under the pointer where it is
  const dx = (x - m.width / 2) / v.scale, dy = (m.height / 2 - y) / v.scale;
  v.cx += dx - dx / k; v.cy += dy - dy / k; v.scale *= k;
  m.tip.style.display = "none";
  request(m);
}

function onDown(m, e) {
  const [x, y] = pos(m, e);
  m.drag = {x, y, cx: m.view.cx, cy: m.view.cy, moved: false};
  m.canvas.setPointerCapture(e.pointerId);
}

function onMove(m, e) {
  const t0 = performance.now();
  const [x, y] = pos(m, e);
  if (m.drag) {
    const dx = x - m.drag.x, dy = y - m.drag.y;
    if (Math.abs(dx) + Math.abs(dy) > 3) m.drag.moved = true;
    if (m.drag.moved) {
      if (m.input === null) m.input = t0;
      m.view.cx = m.drag.cx - dx / m.view.scale; m.view.cy = m.drag.cy + dy / m.view.scale;
      m.tip.style.display = "none";
      request(m);
      return;
    }
  }
  const i = nearest(m, x, y);
  if (i !== m.hover) { m.hover = i; showTip(m, i, x, y, t0); }
}

function onUp(m, e) {
  const drag = m.drag;
  m.drag = null;
  if (!drag || drag.moved) return;
  const [x, y] = pos(m, e);
  const i = nearest(m, x, y);
  if (i >= 0 && m.setTrigger) m.setTrigger("clicked", i);
}

function render(m, data) {
  const changed = m.key !== data.key;
  m.data = data;
  m.byColor = data.palette.map(() => []);  // one path per colour, without scanning all points per colour
  for (let i = 0; i < data.c.length; i++) m.byColor[data.c[i]].push(i);
  m.legend.innerHTML = "";
  for (const [label, color] of data.legend || []) {
    const item = document.createElement("span");
    const sw = document.createElement("i");
    sw.style.background = color;
    item.append(sw, document.createTextNode(label));
    m.legend.appendChild(item);
  }
  if (data.sheet && data.sheet !== m.sheetUrl) {
    m.sheetUrl = data.sheet;
    const img = new Image();
    // Cut into tiles of about 1024² pixels, decoded once as ImageBitmaps. Drawn from one large sheet, Chromium
    // paid for the whole sheet on every frame once it passed a size: 12,000 faces (3,520² pixels) took
    // 29 ms a frame even with 5 faces drawn, against 2 ms for 5,441 faces (2,368²) or for no faces.
    // (Python also keeps the decoded sheet under about 28 MB, explorer.analysis.sprites.thumb_size: past about
    // 32 MB of bitmaps, drawing got slow again in this Chromium.)
    img.onload = () => {
      const T = data.thumb * Math.floor(1024 / data.thumb), jobs = [];  // whole faces per tile
      for (let y = 0; y < img.height; y += T)
        for (let x = 0; x < img.width; x += T)
          jobs.push(createImageBitmap(img, x, y, Math.min(T, img.width - x), Math.min(T, img.height - y)));
      Promise.all(jobs).then((tiles) => {
        if (m.sheetUrl !== data.sheet) return;
        m.sheet = {tiles, tile: T, across: Math.ceil(img.width / T)};
        m.wrap.dataset.sheet = "loaded"; request(m);
      });
    };
    img.onerror = () => { m.wrap.dataset.sheet = "error"; };
    img.src = data.sheet;
  }
  resize(m);
  if (changed || !m.view) { m.key = data.key; fit(m); }
  request(m);
}

export default function (component) {
  const { data, parentElement, setTriggerValue } = component;
  let m = parentElement.__facemap;
  if (!m) { m = create(parentElement); parentElement.__facemap = m; }
  m.setTrigger = setTriggerValue;
  render(m, data);
  return () => {
    if (m.frame) cancelAnimationFrame(m.frame);
    m.ro.disconnect();
    parentElement.__facemap = null;
    m.wrap.remove();
  };
}
