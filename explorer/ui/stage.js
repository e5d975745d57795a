// Stage mode: one big face and the most informative latent dimensions as large bars, driven by the keyboard
// (a presenter's hands are on a clicker or the arrow keys, not on a slider's thumb).
//
//   ↑ ↓       choose a dimension          ← →  move it by one step (Shift: five steps; a clicker's
//                                                PageUp / PageDown move it too)
//   space     play / stop its traversal    R    put every dimension back      Esc  leave stage mode
//
// Python decodes; this page shows the new value at once and sends every change as a trigger "move" with
// the absolute values and a sequence number. Python echoes the number it has applied, so a slow answer
// to an older key press never moves the bars back. The traversal's frames come with each render and play
// here, forward and back, without a round trip per frame.

function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
}

function create(root) {
  const wrap = el("div", "stage");
  const left = el("div", "stage-left");
  const img = el("img", "stage-face");
  img.alt = "the face";
  const caption = el("div", "stage-caption");
  left.append(img, caption);
  const right = el("div", "stage-right");
  const list = el("div", "stage-controls");
  const keys = el("div", "stage-keys",
    "↑ ↓ choose · ← → move (Shift: ×5) · space: play the traversal · R: reset · Esc: leave");
  right.append(list, keys);
  wrap.append(left, right);
  root.appendChild(wrap);
  const s = {wrap, img, caption, list, data: null, values: {}, selected: 0, seq: 0, playing: false, timer: 0,
             frame: 0, send: null, rows: []};
  s.onKey = (e) => onKey(s, e);
  document.addEventListener("keydown", s.onKey);
  return s;
}

function ids(s) { return s.data.controls.map((c) => String(c.id)); }

function send(s, extra) {
  s.seq += 1;
  s.wrap.dataset.seq = String(s.seq);
  if (s.send) s.send("move", {seq: s.seq, values: {...s.values}, selected: ids(s)[s.selected], ...(extra || {})});
}

function stop(s) {
  if (s.timer) clearInterval(s.timer);
  s.timer = 0;
  s.playing = false;
  s.wrap.dataset.playing = "0";
  s.img.src = s.data.face;
}

function play(s) {
  const frames = s.data.frames || [];
  if (!frames.length) return;
  s.playing = true;
  s.wrap.dataset.playing = "1";
  const n = frames.length, order = [];
  for (let i = 0; i < n; i++) order.push(i);
  for (let i = n - 2; i > 0; i--) order.push(i);  // forward and back, the ends once
  s.frame = 0;
  s.timer = setInterval(() => {
    s.img.src = frames[order[s.frame % order.length]];
    s.wrap.dataset.frame = String(order[s.frame % order.length]);
    s.frame += 1;
  }, 1000 / (s.data.fps || 20));
}

function onKey(s, e) {
  if (!s.data) return;
  const t = e.target;
  if (t && (t.tagName === "INPUT" || t.tagName === "TEXTAREA" || t.isContentEditable)) return;
  const cs = s.data.controls, c = cs[s.selected];
  let handled = true;
  if (e.key === "ArrowUp" || e.key === "ArrowDown") {
    stop(s);
    s.selected = Math.min(cs.length - 1, Math.max(0, s.selected + (e.key === "ArrowDown" ? 1 : -1)));
    draw(s);
    send(s);
  } else if (["ArrowLeft", "ArrowRight", "PageUp", "PageDown"].includes(e.key)) {
    stop(s);  // a presenter's clicker sends PageDown / PageUp for next / previous
    const up = e.key === "ArrowRight" || e.key === "PageDown";
    const step = c.step * (e.shiftKey ? 5 : 1) * (up ? 1 : -1);
    const v = Math.min(c.max, Math.max(c.min, (s.values[c.id] ?? c.value) + step));  // steps from where it is
    if (v === (s.values[c.id] ?? c.value)) return;  // at an end: nothing to send
    s.values[c.id] = +v.toFixed(4);
    draw(s);
    send(s);
  } else if (e.key === " " || e.key === "Spacebar") {
    if (s.playing) stop(s); else play(s);
  } else if (e.key === "r" || e.key === "R") {
    stop(s);
    s.values = {};
    for (const x of cs) s.values[x.id] = x.base;
    draw(s);
    send(s, {reset: true});
  } else if (e.key === "Escape") {
    stop(s);
    if (s.send) s.send("leave", true);
  } else {
    handled = false;
  }
  if (handled) e.preventDefault();
}

function draw(s) {
  const cs = s.data.controls;
  if (s.rows.length !== cs.length) {
    s.list.innerHTML = "";
    s.rows = cs.map((c, i) => {
      const row = el("div", "stage-row");
      const label = el("div", "stage-label", c.label);
      const bar = el("div", "stage-bar");
      const zero = el("div", "stage-zero");
      const fill = el("div", "stage-fill");
      const knob = el("div", "stage-knob");
      const value = el("div", "stage-value");
      bar.append(zero, fill, knob);
      row.append(label, bar, value);
      row.addEventListener("click", (e) => {
        stop(s);
        s.selected = i;
        const r = bar.getBoundingClientRect();
        if (e.target === bar || bar.contains(e.target)) {  // a click on the bar sets the value there
          const x = Math.min(1, Math.max(0, (e.clientX - r.left) / r.width));
          s.values[c.id] = +(Math.round((c.min + x * (c.max - c.min)) / c.step) * c.step).toFixed(4);
        }
        draw(s);
        send(s);
      });
      s.list.appendChild(row);
      return {row, fill, knob, value, zero};
    });
  }
  cs.forEach((c, i) => {
    const v = s.values[c.id] ?? c.value, r = s.rows[i];
    const pos = (x) => (100 * (x - c.min)) / (c.max - c.min);
    const p = pos(v), z = pos(0);
    r.row.classList.toggle("selected", i === s.selected);
    r.zero.style.left = `${z}%`;
    r.fill.style.left = `${Math.min(p, z)}%`;
    r.fill.style.width = `${Math.abs(p - z)}%`;
    r.knob.style.left = `${p}%`;
    r.value.textContent = (v >= 0 ? "+" : "−") + Math.abs(v).toFixed(2);
  });
  s.wrap.dataset.selected = String(cs[s.selected].id);
  s.wrap.dataset.value = String(s.values[cs[s.selected].id] ?? cs[s.selected].value);
}

function render(s, data) {
  const fresh = !s.data || data.applied >= s.seq;  // Python has caught up with every key press sent
  s.data = data;
  if (fresh) {
    s.values = {};
    for (const c of data.controls) s.values[c.id] = c.value;
    const i = ids(s).indexOf(String(data.selected));
    if (i >= 0) s.selected = i;
  }
  if (!s.playing) s.img.src = data.face;
  s.img.style.width = s.img.style.height = `${data.size}px`;
  s.caption.textContent = data.caption;
  s.wrap.dataset.applied = String(data.applied);
  s.wrap.dataset.face = data.faceId;
  draw(s);
}

export default function (component) {
  const {data, parentElement, setTriggerValue} = component;
  let s = parentElement.__stage;
  if (!s) { s = create(parentElement); parentElement.__stage = s; }
  s.send = setTriggerValue;
  render(s, data);
  return () => {
    stop(s);
    document.removeEventListener("keydown", s.onKey);
    parentElement.__stage = null;
    s.wrap.remove();
  };
}
