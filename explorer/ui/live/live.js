// The live decoder: holds z in the page, decodes it with ONNX Runtime Web (WebAssembly, one thread) on every
// movement of a control, draws the faces on canvases, and tells Python the values only on release.
//
// data (from explorer/ui/live/component.py): {model, ort, boot, dim, size, mode, base, controls, ...}
//   a control: {id, label, min, max, step, value, set: DIM | add: [D floats]}; z = base, then each control
//   sets one coordinate or adds value × vector, in order. `step` is the arrow keys' step; the pointer
//   sets values on a finer grid (pointerStep).
//   mode "sliders": one face + a traversal strip of dimension `trav` over `steps`;
//   mode "edit":    before/after + a strip of strengths `steps` (base + s·(z − base));
//   mode "pad":     one face; the first two controls are the axes of a 2-D pad;
//   mode "interp":  control `t` scrubs the path base → `end`, drawn by lerp and by slerp.
//   typical (optional, explorer/ui/typical.py): how typical each main face is, shown under it (see showTypical).
// Triggers: "release" {values: {id: value}} when a control is let go; "failed" "reason" when the runtime
// cannot start (Python then draws this view on the server).
// Measurements for tests and the bench, exposed only where they asked for them before the page loaded
// (window.__vaeLiveStats = true, by Playwright's add_init_script): window.__vaeLive[name] = {ready, error, frames (distinct faces drawn),
// frameTimes, decodeMs (main face), strips (whole strips drawn), stripMs (the last strip's time, ms), lane
// (where main faces decode: "worker", then "inline" or "worker only"), inlineMs (a face on the page's
// thread, when tried), firstFace (performance.now() of the first face: ms since the page opened), idle}.

const RUNTIME = { boot: null, queues: {} }; // queues: lane -> the promise of its last decode
const INLINE = "inline"; // boot.mjs's lane that decodes on the page's thread
const MEASURED = window.__vaeLiveStats === true; // the tests' and the bench's flag (see above)
const timing = MEASURED ? (window.__vaeLiveTiming = window.__vaeLiveTiming || {}) : {}; // ms, shared with boot.mjs
const STATS = MEASURED ? (window.__vaeLive = window.__vaeLive || {}) : {};
const INLINE_MAX_MS = 16; // a face slower than this on the page's thread would hold it for a whole frame
const STRIP_EVERY_MS = 150; // while dragging, the strip is redrawn this often (the main face on every move)
const PAD = 2; // pixels between faces, as in explorer.imaging.image_grid
const INSTANCES = new WeakMap();

// boot.mjs starts the runtime and opens the decoders: usually under way since the HTML's first line.
function boot(data) {
  if (!RUNTIME.boot) RUNTIME.boot = window.__vaeBoot ? Promise.resolve(window.__vaeBoot)
    : import(new URL(data.boot, window.location.origin).href);
  return RUNTIME.boot;
}

// -> {ort, session}: the decoder at `url` opened in boot.mjs's `lane`
function open(data, url, lane = "") { return boot(data).then((b) => b.openDecoder(data.ort, url, lane)); }

// One decode at a time per lane for the whole page: a wasm session is not re-entrant.
function serial(lane, fn) {
  const run = (RUNTIME.queues[lane] || Promise.resolve()).then(fn, fn);
  RUNTIME.queues[lane] = run.catch(() => {});
  return run;
}

function stats(key) {
  return (STATS[key] = STATS[key] || { ready: false, error: null, frames: 0, draws: 0, strips: 0,
                                                              decodeMs: [], frameTimes: [], firstFace: null, values: null,
                                                              idle: false });
}

// ---------------------------------------------------------------------------------------------- z

function zOf(inst) {
  const d = inst.data, z = Float32Array.from(d.base);
  for (const c of d.controls) {
    const v = inst.values[c.id];
    if (c.set !== undefined && c.set !== null) z[c.set] = v;
    else if (c.add) for (let i = 0; i < z.length; i++) z[i] += v * c.add[i];
  }
  return z;
}

function slerp(a, b, t) { // White 2016, as explorer.latent.slerp
  let na = 0, nb = 0, dot = 0;
  for (let i = 0; i < a.length; i++) { na += a[i] * a[i]; nb += b[i] * b[i]; }
  na = Math.sqrt(na); nb = Math.sqrt(nb);
  if (na < 1e-8 || nb < 1e-8) return lerp(a, b, t);
  for (let i = 0; i < a.length; i++) dot += (a[i] / na) * (b[i] / nb);
  const omega = Math.acos(Math.min(1, Math.max(-1, dot)));
  if (Math.abs(Math.sin(omega)) < 1e-6) return lerp(a, b, t);
  const s = Math.sin(omega), wa = Math.sin((1 - t) * omega) / s, wb = Math.sin(t * omega) / s;
  return a.map((x, i) => wa * x + wb * b[i]);
}
function lerp(a, b, t) { return a.map((x, i) => (1 - t) * x + t * b[i]); }

// (main faces, strip faces) for the current values
function faces(inst) {
  const d = inst.data, z = zOf(inst);
  if (d.mode === "sliders") return [[z], d.steps.map((s) => { const y = z.slice(); y[d.trav] = s; return y; })];
  if (d.mode === "edit") {
    const b = Float32Array.from(d.base);
    return [[b, z], d.steps.map((s) => b.map((x, i) => x + s * (z[i] - x)))];
  }
  if (d.mode === "interp") {
    const a = Float32Array.from(d.base), e = Float32Array.from(d.end), t = inst.values.t;
    return [[lerp(a, e, t), slerp(a, e, t)], []];
  }
  return [[z], []];
}

// ---------------------------------------------------------------------------------------------- typicality

// data.typical: {now: [percentile of each main face], labels, profiles: {control id: [{min, max, values} per face]},
// threshold, warning}. Python sends, with each set of values, each face's percentile along every control it
// can (the other controls fixed where they are). While one control alone has moved since those values, the
// number is read off that control's profile, linear between its points: a few operations a move (stats
// .typicalMs, well under a millisecond); after moves of several controls, or of one without a profile, the
// line waits for the release, when Python sends the exact number.
function ordinal(p) {
  if (p < 1) return "<1st";
  const k = Math.floor(p), t = k % 10;
  return k + ((k % 100 >= 10 && k % 100 <= 20) ? "th" : t === 1 ? "st" : t === 2 ? "nd" : t === 3 ? "rd" : "th");
}

function typicalNow(inst) {
  const t = inst.data.typical;
  const moved = Object.keys(inst.values).filter((id) => inst.values[id] !== inst.given[id]);
  if (!moved.length) return t.now;
  const profiles = moved.length === 1 ? (t.profiles || {})[moved[0]] : null;
  if (!profiles || profiles.some((pr) => !pr)) return null;
  const v = inst.values[moved[0]];
  return profiles.map((pr) => {
    const last = pr.values.length - 1, x = Math.min(last, Math.max(0, (v - pr.min) / (pr.max - pr.min) * last));
    const i = Math.min(Math.floor(x), last - 1), f = x - i;
    return pr.values[i] * (1 - f) + pr.values[i + 1] * f;
  });
}

function showTypical(inst) {
  const el = inst.el.typical, t = inst.data.typical;
  if (!el || !t) return;
  const t0 = performance.now(), ps = typicalNow(inst), st = stats(inst.key);
  if (!ps) {
    el.text.textContent = "Typicality: shown when you let go";
    el.warn.hidden = true;
  } else {
    el.text.textContent = "Typicality: " + (t.labels.length === 1 ? ordinal(ps[0])
      : t.labels.map((n, i) => `${n} ${ordinal(ps[i])}`).join(" · ")) + " percentile of the encoded faces";
    const worst = ps.indexOf(Math.min(...ps));
    el.warn.hidden = !(ps[worst] < t.threshold);
    el.warn.textContent = "⚠ " + (t.labels.length > 1 ? `${t.labels[worst]}: ` : "") + t.warning;
  }
  st.typical = ps;
  st.typicalMs = performance.now() - t0;
}

// ---------------------------------------------------------------------------------------------- drawing

// Draw decoded faces out[0..] into slots first.. of a canvas holding n faces in a row.
function draw(canvas, out, n, S, first = 0) {
  const W = n * S + (n - 1) * PAD;
  if (canvas.width !== W || canvas.height !== S) { // resizing clears it: only when the shape changes
    canvas.width = W;
    canvas.height = S;
    const g = canvas.getContext("2d");
    g.fillStyle = "#fff";
    g.fillRect(0, 0, W, S);
  }
  const ctx = canvas.getContext("2d");
  const plane = S * S, img = ctx.createImageData(S, S), px = img.data, count = out.length / (3 * plane);
  for (let k = 0; k < count; k++) {
    const o = k * 3 * plane;
    for (let p = 0; p < plane; p++) {
      // as explorer.imaging.to_uint8_images: clamp to [0,1], ×255, round
      for (let c = 0; c < 3; c++) px[4 * p + c] = Math.round(Math.min(1, Math.max(0, out[o + c * plane + p])) * 255);
      px[4 * p + 3] = 255;
    }
    ctx.putImageData(img, (first + k) * (S + PAD), 0);
  }
}

// Decode with `via`, inst.main or inst.strip: an {ort, session, lane}.
async function decode(inst, zs, via = inst.main) {
  const d = inst.data, D = d.dim, flat = new Float32Array(zs.length * D), { ort, session } = via;
  zs.forEach((z, i) => flat.set(z, i * D));
  return serial(via.lane, async () => {
    const t0 = performance.now();
    if (d.batch === 1 && zs.length > 1) {
      // A decoder whose batch axis is fixed at 1 (a user's export, explorer.foreign): one face at a time.
      const plane = 3 * d.size * d.size, out = new Float32Array(zs.length * plane);
      for (let i = 0; i < zs.length; i++) { // a copy per face: the worker's proxy takes each input's buffer
        const res = await session.run({ z: new ort.Tensor("float32", flat.slice(i * D, (i + 1) * D), [1, D]) });
        out.set(res.image.data, i * plane);
      }
      return [out, performance.now() - t0];
    }
    const res = await session.run({ z: new ort.Tensor("float32", flat, [zs.length, D]) });
    return [res.image.data, performance.now() - t0];
  });
}

function schedule(inst, strip = true) {
  inst.mainDirty = true;
  if (strip && inst.el.strip) inst.stripDirty = true; // (pad and scrubber have no strip)
  pump(inst);
  pumpStrip(inst);
}

function settled(inst) {
  stats(inst.key).idle = !inst.mainDirty && !inst.stripDirty && !inst.busy && !inst.stripBusy;
}

// At most one main face is started per animation frame, with the values of that moment; decoded in
// ~8 ms, it is shown by the next frame. A mouse can report twice in one frame: a second face started
// then could never be shown (the screen shows the last face drawn before it paints) and would hold the
// page's thread for another decode. A started face asks for the frame that ends its turn, whose
// callback clears the flag and runs pump for a move that waited. (Cleared before only by frames that
// each move asked for, the flag stayed set after a face started from an animation callback, as at a
// release, and the first move after a pause waited for its frame's animation callbacks: the bench
// counted a frame with a new value and no new face at the start of every drag.)
function nextFrame(inst) {
  if (inst.frameAsked) return;
  inst.frameAsked = true;
  requestAnimationFrame(() => { inst.frameAsked = false; inst.startedThisFrame = false; pump(inst); });
}

// Whether `strip` differs from the strip last drawn, noting it as drawn. Dragging the traversed dimension
// itself leaves every face of its strip as it was (each sets that coordinate): nothing to decode.
function newStrip(inst, strip) {
  if (!strip.length) return false;
  const key = strip.map((z) => z.join(",")).join(";");
  if (key === inst.stripKey) return false;
  inst.stripKey = key;
  return true;
}

// The strip, at most every STRIP_EVERY_MS while dragging. In a lane of its own (inst.strip) all its faces
// in one batch; in the main faces' lane one face per decode, so that a main face, queued behind it in
// the lane, waits for one strip face at most, not for the strip.
async function pumpStrip(inst) {
  if (inst.stripBusy || !inst.main) return;
  inst.stripBusy = true;
  const st = stats(inst.key), S = inst.data.size;
  try {
    while (inst.stripDirty && inst.el.strip) {
      const wait = inst.dragging ? STRIP_EVERY_MS - (performance.now() - inst.lastStrip) : 0;
      if (wait > 0) { setTimeout(() => pumpStrip(inst), wait); break; }
      inst.stripDirty = false;
      const [, strip] = faces(inst); // a snapshot: the strip is drawn from one set of values
      if (!newStrip(inst, strip)) continue;
      const t0 = (inst.lastStrip = performance.now());
      const via = inst.strip || inst.main;
      if (via !== inst.main) draw(inst.el.strip, (await decode(inst, strip, via))[0], strip.length, S);
      else for (let i = 0; i < strip.length; i++) draw(inst.el.strip, (await decode(inst, [strip[i]], via))[0], strip.length, S, i);
      st.strips++;
      st.stripMs = performance.now() - t0;
    }
  } catch (e) {
    fail(inst, `decoding failed: ${e && e.message ? e.message : e}`);
  } finally {
    inst.stripBusy = false;
    settled(inst);
  }
}

async function pump(inst) {
  if (inst.busy || !inst.main) return;
  inst.busy = true;
  const st = stats(inst.key), S = inst.data.size;
  st.idle = false;
  try {
    while (inst.mainDirty) {
      if (inst.startedThisFrame) break; // this frame has its face: the frame asked for below runs the next one
      inst.mainDirty = false;
      inst.startedThisFrame = true;
      nextFrame(inst); // its callback clears the flag and runs pump again
      const snap = { ...inst.values }, [main] = faces(inst), sig = JSON.stringify(snap) + inst.sig;
      const [out, ms] = await decode(inst, main);
      draw(inst.el.main, out, main.length, S);
      st.draws++;
      if (sig !== inst.lastSig) {
        st.frames++; inst.lastSig = sig;
        st.frameTimes.push(performance.now());
        if (st.frameTimes.length > 4000) st.frameTimes.splice(0, 2000);
      }
      st.decodeMs.push(ms);
      if (st.decodeMs.length > 2000) st.decodeMs.splice(0, 1000);
      st.values = snap; // the values of the frame on screen
      if (st.firstFace === null) { st.firstFace = performance.now(); timing.firstFace = st.firstFace; timing.mounted = inst.mountedAt; }
      inst.el.main.dataset.sig = sig;
    }
  } catch (e) {
    fail(inst, `decoding failed: ${e && e.message ? e.message : e}`);
  } finally {
    inst.busy = false;
    settled(inst);
  }
}

// The median of 3 decodes of one face on the page's thread, in ms.
async function inlineMs(session, ort, D) {
  const t = [];
  for (let i = 0; i < 3; i++) {
    const t0 = performance.now();
    await session.run({ z: new ort.Tensor("float32", new Float32Array(D), [1, D]) });
    t.push(performance.now() - t0);
  }
  return t.sort((a, b) => a - b)[1];
}

// After the first faces, when the page is idle: a session on the page's thread for the main faces (its
// start holds the thread ~0.4 s, once), and the worker's session goes on with the strip alone, in
// parallel. Until then, and where it cannot open or a face takes longer than INLINE_MAX_MS there (a
// larger decoder, a slower machine: the page would stop answering the pointer), the worker draws both
// (pumpStrip). stats.lane says which: "worker", then "inline" or "worker only".
function openInline(inst, data, url) {
  const go = () => open(data, url, INLINE).then(async ({ ort, session }) => {
    if (inst.modelUrl !== url || !inst.main) return;
    const ms = await serial(INLINE, () => inlineMs(session, ort, data.dim)), st = stats(inst.key);
    st.inlineMs = ms;
    if (ms > INLINE_MAX_MS) { st.lane = "worker only"; return; }
    if (inst.modelUrl !== url || !inst.main) return;
    inst.strip = inst.main;
    inst.main = { ort, session, lane: INLINE };
    st.lane = INLINE;
  }).catch((e) => {
    stats(inst.key).lane = "worker only";
    console.warn("[vae-live] faces decode in the worker only:", e && e.message ? e.message : e);
  });
  if (window.requestIdleCallback) window.requestIdleCallback(go, { timeout: 3000 });
  else setTimeout(go, 500);
}

function fail(inst, reason) {
  const st = stats(inst.key);
  if (st.error) return;
  st.error = reason;
  console.error("[vae-live]", reason);
  inst.el.status.textContent = reason;
  inst.setTriggerValue("failed", reason); // Python switches this session to server-side decoding
}

// ---------------------------------------------------------------------------------------------- controls

function fmt(v) { return (Math.round(v * 100) / 100).toFixed(2); }

// The pointer sets a control on a grid finer than a pixel: 1,000 to 10,000 points over its range (0.01 on
// -5..5). On the control's own step (0.05 there, 200 points, 1.2 pixels each on a 246-pixel slider) a slow
// drag left the value, and so the face, unchanged in the frames whose move stayed within one step: 17 of
// 20 frames without a new face in 5 bench drags. The arrow keys still move by the control's step (never
// finer than this grid's).
function pointerStep(c) { return Math.min(c.step, 10 ** Math.floor(Math.log10((c.max - c.min) / 1000))); }

// Arrow keys: to the next point of the control's step grid below or above (the value may lie between).
function arrowKeys(input, c) {
  const dirs = { ArrowRight: 1, ArrowUp: 1, ArrowLeft: -1, ArrowDown: -1 };
  input.addEventListener("keydown", (e) => {
    const dir = dirs[e.key];
    if (!dir) return; // Page Up/Down, Home, End: the browser's own
    e.preventDefault();
    const before = input.value, k = parseFloat(before) / c.step;
    const n = dir > 0 ? Math.floor(k + 1e-6) + 1 : Math.ceil(k - 1e-6) - 1;
    input.value = Math.min(c.max, Math.max(c.min, n * c.step));
    if (input.value === before) return; // at an end: nothing moved, nothing to send
    input.dispatchEvent(new Event("input", { bubbles: true }));
    input.dispatchEvent(new Event("change", { bubbles: true }));
  });
}

function slider(inst, c) {
  const wrap = document.createElement("label");
  wrap.className = "ctl";
  wrap.innerHTML = `<span class="lab"></span><span class="val"></span><input type="range">`;
  wrap.querySelector(".lab").textContent = c.label;
  const input = wrap.querySelector("input"), val = wrap.querySelector(".val");
  Object.assign(input, { min: c.min, max: c.max, step: pointerStep(c), value: inst.values[c.id] });
  arrowKeys(input, c);
  input.dataset.id = c.id;
  input.setAttribute("aria-label", c.label);
  val.textContent = fmt(inst.values[c.id]);
  input.addEventListener("pointerdown", () => { inst.dragging = true; });
  input.addEventListener("input", () => {
    inst.values[c.id] = parseFloat(input.value);
    val.textContent = fmt(inst.values[c.id]);
    schedule(inst);
    showTypical(inst);
  });
  input.addEventListener("change", () => release(inst));
  inst.inputs[c.id] = { input, val };
  return wrap;
}

function release(inst) {
  inst.dragging = false;
  schedule(inst);
  inst.setTriggerValue("release", { values: { ...inst.values } });
}

function pad(inst, cx, cy) {
  const box = document.createElement("div");
  box.className = "pad";
  box.innerHTML = `<canvas class="padc" width="220" height="220"></canvas><div class="padlab"></div>`;
  const cv = box.querySelector("canvas"), lab = box.querySelector(".padlab");
  const paint = () => {
    const g = cv.getContext("2d"), W = cv.width, H = cv.height;
    g.clearRect(0, 0, W, H);
    g.strokeStyle = "rgba(128,128,128,.5)";
    g.strokeRect(0.5, 0.5, W - 1, H - 1);
    g.beginPath(); g.moveTo(W / 2, 0); g.lineTo(W / 2, H); g.moveTo(0, H / 2); g.lineTo(W, H / 2); g.stroke();
    const x = (inst.values[cx.id] - cx.min) / (cx.max - cx.min) * W;
    const y = (1 - (inst.values[cy.id] - cy.min) / (cy.max - cy.min)) * H;
    g.fillStyle = "#ff4b4b";
    g.beginPath(); g.arc(x, y, 7, 0, 2 * Math.PI); g.fill();
    lab.textContent = `${cx.label} ${fmt(inst.values[cx.id])} · ${cy.label} ${fmt(inst.values[cy.id])}`;
  };
  const q = (v, c) => { const s = pointerStep(c); return Math.min(c.max, Math.max(c.min, +(Math.round(v / s) * s).toFixed(4))); };
  const move = (e) => {
    const r = cv.getBoundingClientRect();
    inst.values[cx.id] = q(cx.min + (e.clientX - r.left) / r.width * (cx.max - cx.min), cx);
    inst.values[cy.id] = q(cy.max - (e.clientY - r.top) / r.height * (cy.max - cy.min), cy);
    paint();
    schedule(inst);
    showTypical(inst);
  };
  cv.addEventListener("pointerdown", (e) => { inst.dragging = true; cv.setPointerCapture(e.pointerId); move(e); });
  cv.addEventListener("pointermove", (e) => { if (inst.dragging) move(e); });
  cv.addEventListener("pointerup", (e) => { if (inst.dragging) { move(e); release(inst); } });
  inst.repaintPad = paint;
  paint();
  return box;
}

function build(inst) {
  const d = inst.data, root = inst.root;
  root.innerHTML = "";
  inst.repaintPad = null;
  inst.stripKey = null; // a new canvas: nothing drawn on it yet
  root.className = `live mode-${d.mode}`;
  const left = document.createElement("div"), right = document.createElement("div");
  left.className = "faces"; right.className = "controls";
  const main = document.createElement("canvas");
  main.className = "main";
  main.style.width = `${d.width || 256}px`;
  main.width = d.size; main.height = d.size;
  const cap = document.createElement("div");
  cap.className = "cap main-cap"; cap.textContent = d.caption || "";
  const status = document.createElement("div");
  status.className = "status"; status.textContent = inst.main ? "" : "starting the in-browser decoder…";
  left.append(main, cap);
  inst.el = { main, status, strip: null, typical: null };
  if (d.typical) {
    const box = document.createElement("div"), text = document.createElement("div"), warn = document.createElement("div");
    box.className = "typical"; text.className = "cap typ"; warn.className = "typ-warn"; warn.hidden = true;
    text.title = d.typical.help || "";
    box.append(text, warn);
    left.append(box);
    inst.el.typical = { text, warn };
  }
  if (d.steps && d.steps.length) {
    const strip = document.createElement("canvas");
    strip.className = "strip";
    strip.style.width = `${d.stripWidth || 100}%`;
    const sc = document.createElement("div");
    sc.className = "cap strip-cap"; sc.textContent = d.stripCaption || "";
    left.append(strip, sc);
    inst.el.strip = strip;
  }
  left.append(status);
  inst.inputs = {};
  let controls = d.controls;
  if (d.mode === "pad") { right.append(pad(inst, controls[0], controls[1])); controls = controls.slice(2); }
  if (d.mode === "interp") controls = [{ id: "t", label: "position along the path", min: 0, max: 1, step: 0.01 }];
  const visible = d.visible ?? controls.length;
  const grid = document.createElement("div");
  grid.className = "grid";
  controls.slice(0, visible).forEach((c) => grid.append(slider(inst, c)));
  right.append(grid);
  if (controls.length > visible) {
    const more = document.createElement("details"), sum = document.createElement("summary"), g2 = grid.cloneNode();
    sum.textContent = `The other ${controls.length - visible} dimensions`;
    controls.slice(visible).forEach((c) => g2.append(slider(inst, c)));
    more.append(sum, g2);
    right.append(more);
  }
  root.append(left, right);
}

function structure(d) {
  return JSON.stringify([d.mode, d.model, d.size, d.visible, d.trav, d.steps, d.width,
    d.controls.map((c) => [c.id, c.label, c.min, c.max, c.step])]);
}

// ---------------------------------------------------------------------------------------------- entry

export default function (component) {
  const { parentElement, data, setTriggerValue } = component;
  if (data.preload) { // the sidebar's empty instance: start the runtime and the session, draw nothing
    open(data, data.model).catch(() => {}); // a view's own instance reports failures
    return;
  }
  const key = data.name; // the view's key (Streamlit's own key for the instance is an internal id)
  let inst = INSTANCES.get(parentElement);
  const root = parentElement.querySelector(".live");
  if (!inst || inst.root !== root) {
    inst = { root, key, mountedAt: performance.now(), busy: false, dragging: false, lastStrip: 0, lastSig: null, main: null, strip: null };
    INSTANCES.set(parentElement, inst);
    // Pointer moves and slider values stop at the component: they would bubble on to Streamlit's page,
    // whose React root and styled components listen for them with nothing to do. In a 1.5 s drag that
    // took the page's thread 46 ms of listener calls, 30 ms with this (CDP trace), in the frames the
    // decoder needs.
    for (const t of ["pointermove", "mousemove", "input"]) root.addEventListener(t, (e) => e.stopPropagation());
  }
  inst.setTriggerValue = setTriggerValue;
  const incoming = {};
  for (const c of data.controls) incoming[c.id] = c.value;
  if (data.mode === "interp") incoming.t = data.t ?? 0.5;
  const sig = structure(data);
  if (sig !== inst.structure) {
    inst.data = data; inst.values = incoming; inst.structure = sig; inst.sig = JSON.stringify([data.base, data.end]);
    inst.given = { ...incoming };
    build(inst);
  } else if (!inst.dragging) {
    // Python's state after a release or another widget (Reset, another base face): it wins (the scrub
    // position too: it is in the URL).
    inst.data = data; inst.sig = JSON.stringify([data.base, data.end]);
    inst.values = incoming;
    inst.given = { ...incoming };
    for (const [id, { input, val }] of Object.entries(inst.inputs)) { input.value = inst.values[id]; val.textContent = fmt(inst.values[id]); }
    if (inst.repaintPad) inst.repaintPad();
  }
  if (sig === inst.structure) { // captions change with the state (e.g. "2 dimensions moved"): in place
    const mc = root.querySelector(".main-cap"), sc = root.querySelector(".strip-cap");
    if (mc) mc.textContent = data.caption || "";
    if (sc) sc.textContent = data.stripCaption || "";
  }
  if (!inst.dragging) showTypical(inst);
  const st = stats(key);
  if (inst.modelUrl !== data.model) { // first mount, or another checkpoint: (re)start the session
    const url = (inst.modelUrl = data.model);
    inst.main = null;
    inst.strip = null;
    inst.stripKey = null; // another decoder: the same z draw other faces
    (async () => {
      try {
        const { ort, session } = await open(data, url);
        if (inst.modelUrl !== url) return;
        inst.main = { ort, session, lane: "" };
        st.lane = "worker";
        st.ready = true;
        inst.el.status.textContent = "";
        schedule(inst);
        openInline(inst, data, url);
      } catch (e) {
        fail(inst, `the in-browser decoder could not start: ${e && e.message ? e.message : e}`);
      }
    })();
  } else if (inst.main) schedule(inst);
}
