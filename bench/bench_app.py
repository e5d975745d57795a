"""Latency of the explorer in a real browser (Playwright + Debian's Chromium), beside a trivial app.

    python bench/bench_app.py [--checkpoint checkpoints/celeba64.pt] [--moves 30] [--sessions 8]

Measures, on this machine:
  * slider move -> new face loaded and painted, median over --moves keyboard steps, for the explorer's
    latent sliders and for bench/trivial_app.py (one slider, one image) on the same machine;
  * starting the server -> it answers (app.py imports torch and loads the model before that), and
    opening the page -> first faces loaded, for the first session after the server is up and for later
    sessions (median of 5), beside the trivial app's first image;
  * the map of >= 10,000 points: changing the colouring or the projection -> redrawn (median of 10); a
    checkpoint with a smaller bundle is replaced for this part by a synthetic bundle of 12,000 points;
  * 8 browser sessions moving sliders at the same moment: errors, latency, and how often the model was
    loaded (it must be once);
  * the live sliders (decoded in the page by ONNX Runtime Web): a slider dragged with the button held
    (small mouse moves sent at --drag-hz for 1.5 s, --drags times, as a mouse reports them): distinct
    faces drawn per second while dragging, the animation frames, those that showed a new face and
    those in which the slider got a new value (no face can be new in the others), those in which the
    pointer moved (Chromium hands a page about one pointer move per frame; a move within one step of the
    slider gives no new value), and the strips redrawn per second; for the first slider (the
    dimension the strip traverses, whose strip stays) and the second (whose strip is redrawn); the same
    with a sweep made in the page, one new value per frame; the in-browser decode time of one face
    (median, p95); the time from opening the page to the first live face, with where it went; the
    share of CPU time idle and stolen by the host (a shared virtual machine) while measuring; and a
    yardstick of the host's speed, one face decoded by ONNX Runtime in Python (one thread; its default).
The server-side measurements run with EXPLORER_LIVE=0 (the fallback path, the numbers before live
decoding); the live ones with it on.
Times are taken inside the page (performance.now() from the key press to the frame after the image
loads), so Playwright's own round trips are not counted.
"""
from __future__ import annotations

import argparse
import asyncio
import logging
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests"), str(ROOT / "tests" / "ui")]  # test_app: make_checkpoint_file

from test_browser import CHROMIUM, CHROMIUM_ARGS, LIVE_STATS, settle, streamlit_server  # noqa: E402

# Arm a timer: starts at the next key press (or pointer press), resolves with the milliseconds until
# the image matching `sel` has a new src, has loaded, and one frame has been painted.
IMAGE_CHANGE_JS = """(sel) => { window.__t0 = null; const old = document.querySelector(sel)?.src;
  const mark = () => { if (window.__t0 === null) window.__t0 = performance.now(); };
  document.addEventListener('keydown', mark, {capture: true, once: true});
  document.addEventListener('pointerdown', mark, {capture: true, once: true});
  window.__done = new Promise(res => {
    let fired = false;
    const check = () => { const im = document.querySelector(sel);
      if (!fired && window.__t0 !== null && im && im.src !== old && im.complete && im.naturalWidth > 0) {
        fired = true; obs.disconnect(); requestAnimationFrame(() => res(performance.now() - window.__t0)); } };
    const obs = new MutationObserver(check);
    obs.observe(document.body, {subtree: true, childList: true, attributes: true, attributeFilter: ['src']});
    document.addEventListener('load', check, true);
  }); }"""

# Arm a timer for the map: from the next Enter or click to the second frame after the chart's traces
# (names and first x) differ from now.
MAP_CHANGE_JS = """() => { window.__t0 = null;
  const sig = () => { const gd = document.querySelector('.js-plotly-plot');
    return gd && gd._fullData ? gd._fullData.map(t => t.name + ':' + t.x[0] + ':' + t.x.length).join('|') : ''; };
  const old = sig();
  const mark = () => { if (window.__t0 === null) window.__t0 = performance.now(); };
  document.addEventListener('keydown', e => { if (e.key === 'Enter') mark(); }, {capture: true});
  document.addEventListener('pointerdown', mark, {capture: true, once: true});
  window.__done = new Promise(res => { const tick = () => {
    if (window.__t0 !== null && sig() !== old && sig() !== '')
      requestAnimationFrame(() => requestAnimationFrame(() => res(performance.now() - window.__t0)));
    else requestAnimationFrame(tick); }; tick(); }); }"""

FIRST_FACE_JS = """window.__firstFace = null;
document.addEventListener('load', e => { if (window.__firstFace === null && e.target.tagName === 'IMG'
  && e.target.closest('[data-testid=stMain]')) window.__firstFace = performance.now(); }, true);"""


def stats(xs: list[float]) -> str:
    xs = sorted(xs)
    p90 = xs[min(len(xs) - 1, round(0.9 * (len(xs) - 1)))]
    return f"median {statistics.median(xs):6.0f} ms   p90 {p90:6.0f} ms   (n={len(xs)})"


def slider_moves(page, image_sel: str, slider_sel: str, moves: int) -> list[float]:
    slider = page.locator(slider_sel).first
    slider.focus()
    out = []
    for i in range(moves):
        page.evaluate(IMAGE_CHANGE_JS, image_sel)
        page.keyboard.press("ArrowRight" if (i // 10) % 2 == 0 else "ArrowLeft")
        out.append(page.evaluate("window.__done"))
        page.wait_for_timeout(100)  # a person does not press 10 times a second; keep runs apart
    return out


def new_page(browser, url: str):
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.add_init_script(LIVE_STATS)  # the live decoder's measurements
    page.add_init_script(FIRST_FACE_JS)
    page.goto(url)
    return page


def first_faces(browser, url: str, timeout: float = 120_000) -> float:
    page = new_page(browser, url)
    page.wait_for_function("window.__firstFace !== null", timeout=timeout)
    t = page.evaluate("window.__firstFace")
    page.close()
    return t


def bench_trivial(browser, moves: int, tmp: Path) -> dict:
    with streamlit_server(ROOT / "bench" / "trivial_app.py", log=tmp / "trivial.log") as url:
        first = [first_faces(browser, url) for _ in range(5)]
        page = new_page(browser, url)
        page.wait_for_selector("[data-testid=stImage] img")
        settle(page)
        slider = slider_moves(page, "[data-testid=stImage] img", "[data-testid=stSlider] input[type=range]", moves)
    return {"first": first, "slider": slider}


LIVE = "window.__vaeLive && window.__vaeLive.live_sliders"
# Timestamps of the pointer going down and up, the input events between (composed events reach the
# document from the component's shadow root), and the animation frames the page got meanwhile.
# Counts, while the button is held, the input events, the animation frames, and the frames that showed a
# new face (a face can be drawn twice in one frame when two moves come in it: the screen shows the last),
# the frames in which the slider got at least one new value (no face can be new in the others), and those
# in which the pointer moved (a move within one step of the slider gives no new value).
DRAG_MARKS_JS = """() => { const d = window.__drag = {down: null, up: null, inputs: 0, frames: 0, shown: 0, moved: 0,
                                                 pointed: 0, fresh: false, pfresh: false};
  if (window.__dragListening) return; window.__dragListening = true;
  document.addEventListener('pointerdown', () => { const d = window.__drag; d.down = performance.now();
    let seen = (%(live)s).frames;
    const tick = () => { if (d.up === null) { d.frames++; const f = (%(live)s).frames; if (f !== seen) { d.shown++; seen = f; }
                                              if (d.fresh) { d.moved++; d.fresh = false; }
                                              if (d.pfresh) { d.pointed++; d.pfresh = false; }
                                              requestAnimationFrame(tick); } };
    requestAnimationFrame(tick);
  }, {capture: true});
  document.addEventListener('input', () => { const d = window.__drag; if (d.up === null) { d.inputs++; d.fresh = true; } }, {capture: true});
  document.addEventListener('pointermove', () => { const d = window.__drag; if (d.down !== null && d.up === null) d.pfresh = true; }, {capture: true});
  document.addEventListener('pointerup', () => { window.__drag.up = performance.now(); }, {capture: true}); }"""
DRAG_MARKS_JS = DRAG_MARKS_JS % {"live": LIVE}

# A drag at the display's rate, made in the page: one new slider value per animation frame for `ms`, a
# straight sweep over 90% of the range, so every frame moves at least one step (0.06 per 60th of a second
# on a -3..3 slider) and no value repeats. Measures what the decoder keeps up with, with no input path.
RAF_DRAG_JS = """([input, ms]) => new Promise(res => {
  const lo = parseFloat(input.min), hi = parseFloat(input.max), a = lo + 0.05 * (hi - lo), b = hi - 0.05 * (hi - lo);
  input.dispatchEvent(new PointerEvent('pointerdown', {bubbles: true, composed: true}));
  const t0 = performance.now(); let n = 0, frames = 0, shown = 0, seen = (%(live)s).frames;
  const step = () => { const t = performance.now() - t0; frames++;
    const f = (%(live)s).frames; if (f !== seen) { shown++; seen = f; }
    if (t >= ms) { input.dispatchEvent(new Event('change', {bubbles: true}));
                   input.dispatchEvent(new PointerEvent('pointerup', {bubbles: true, composed: true}));
                   return res({t0, t1: performance.now(), inputs: n, frames, shown}); }
    const before = input.value;
    input.value = a + (b - a) * t / ms;
    if (input.value !== before) n++;
    input.dispatchEvent(new Event('input', {bubbles: true})); requestAnimationFrame(step); };
  requestAnimationFrame(step); })""" % {"live": LIVE}


def percentile(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, round(q * (len(xs) - 1)))]


async def _mouse_drag(cdp, a: float, b: float, y: float, hz: float, seconds: float) -> None:
    """Press at x=a, move to x=b in moves sent every 1/hz s without waiting for Chromium to take each
    one, as a mouse reports (125 Hz is a common USB mouse's rate), and release. Playwright's own
    mouse.move waits for each move to be handled before sending the next, so it can never deliver more
    than one move per frame, and delivers fewer whenever a frame is late."""
    def send(kind, x, **kw):
        return cdp.send("Input.dispatchMouseEvent", {"type": kind, "x": x, "y": y, "button": "left", **kw})

    await send("mouseMoved", a, buttons=0)
    await send("mousePressed", a, buttons=1, clickCount=1)
    n, loop = max(2, round(hz * seconds)), asyncio.get_running_loop()
    t0, sent = loop.time(), []
    for i in range(1, n + 1):
        sent.append(asyncio.ensure_future(send("mouseMoved", a + (b - a) * i / n, buttons=1)))
        await asyncio.sleep(max(0.0, t0 + i / hz - loop.time()))
    await asyncio.gather(*sent)
    await send("mouseReleased", b, buttons=0, clickCount=1)


async def _bench_live(url: str, drags: int, hz: float, opens: int) -> dict:
    from playwright.async_api import async_playwright

    res: dict = {"first": [], "timing": [], "decode": []}
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        for i in range(opens + 1):
            page = await browser.new_page(viewport={"width": 1400, "height": 1000})
            await page.add_init_script(LIVE_STATS)
            await page.goto(url + "/?view=sliders")
            await page.wait_for_function(f"{LIVE} && {LIVE}.firstFace !== null", timeout=180_000)
            err = await page.evaluate(f"{LIVE}.error")
            if err:
                sys.exit(f"error: the live decoder failed in Chromium: {err}")
            res["first"].append(await page.evaluate(f"{LIVE}.firstFace"))  # ms since navigation start
            res["timing"].append(await page.evaluate("window.__vaeLiveTiming"))
            if i < opens:
                await page.close()
        cdp = await page.context.new_cdp_session(page)
        # Steady state: the main faces decode on the page's thread once it has been idle, unless a face
        # takes longer than a frame there (live.js); which one is reported.
        await page.wait_for_function(f"['inline', 'worker only'].includes({LIVE}.lane)", timeout=30_000)
        res["lane"] = await page.evaluate(f"[{LIVE}.lane, {LIVE}.inlineMs]")
        # The first slider is the dimension the strip traverses (its faces stay as they are); the second
        # is another one, so the strip is redrawn while it is dragged.
        for which in (0, 1):
            r_ = res[which] = {"fps": [], "inputs_per_s": [], "frames_per_s": [], "shown": [], "moved": [], "pointed": [], "span": [],
                               "strips": [], "strip_ms": [], "raf_fps": [], "raf_inputs": [], "raf_frames": [], "raf_shown": []}
            slider = page.locator(".st-key-live_sliders input[type=range]").nth(which)
            box = await slider.bounding_box()
            y = box["y"] + box["height"] / 2
            xs = [box["x"] + box["width"] * f for f in (0.3, 0.8)]
            for k in range(drags):
                await page.wait_for_function(f"{LIVE}.idle", timeout=30_000)
                await page.evaluate(DRAG_MARKS_JS)
                n0, s0, q0 = await page.evaluate(f"[{LIVE}.decodeMs.length, {LIVE}.strips, location.search]")
                a, b = xs if k % 2 == 0 else xs[::-1]
                await _mouse_drag(cdp, a, b, y, hz, 1.5)
                d = await page.evaluate("window.__drag")
                times, s1 = await page.evaluate(f"[{LIVE}.frameTimes, {LIVE}.strips]")
                span = (d["up"] - d["down"]) / 1000
                r_["fps"].append(sum(1 for t in times if d["down"] <= t <= d["up"]) / span)
                r_["inputs_per_s"].append(d["inputs"] / span)
                r_["frames_per_s"].append(d["frames"] / span)
                r_["shown"].append(d["shown"] / span)
                r_["moved"].append(d["moved"] / span)
                r_["pointed"].append(d["pointed"] / span)
                r_["strips"].append((s1 - s0) / span)
                r_["strip_ms"].append(await page.evaluate(f"{LIVE}.stripMs || 0"))
                r_["span"].append(span)
                res["decode"] += (await page.evaluate(f"{LIVE}.decodeMs"))[n0:]
                await page.wait_for_function("(q) => location.search !== q", arg=q0, timeout=30_000)
            for k in range(drags):
                await page.wait_for_function(f"{LIVE}.idle", timeout=30_000)
                n0 = await page.evaluate(f"{LIVE}.decodeMs.length")
                r = await page.evaluate(RAF_DRAG_JS, [await slider.element_handle(), 1500])
                times = await page.evaluate(f"{LIVE}.frameTimes")
                span = (r["t1"] - r["t0"]) / 1000
                r_["raf_fps"].append(sum(1 for t in times if r["t0"] <= t <= r["t1"]) / span)
                r_["raf_inputs"].append(r["inputs"] / span)
                r_["raf_frames"].append(r["frames"] / span)
                r_["raf_shown"].append(r["shown"] / span)
                res["decode"] += (await page.evaluate(f"{LIVE}.decodeMs"))[n0:]
        await browser.close()
    return res


def cpu_times() -> list[int]:
    """The machine's CPU time so far by kind (/proc/stat: user, nice, system, idle, iowait, irq, softirq,
    steal), in clock ticks; empty where there is no /proc."""
    try:
        return [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    except OSError:
        return []


def bench_live(ckpt: Path, tmp: Path, drags: int, hz: float, opens: int = 5) -> dict:
    """Open the live sliders `opens` + 1 times (the first live face), then drag the first slider back and
    forth with the mouse button held, and count the faces drawn. Playwright's async API: the mouse moves
    are sent on a clock, not one after the other. Also the share of the machine's CPU time that was idle
    and that the hypervisor gave to other machines (steal) meanwhile: on a shared host the figures move
    with it."""
    with streamlit_server(ROOT / "app.py", "--checkpoint", str(ckpt), log=tmp / "live.log") as url:
        t0 = cpu_times()
        res = asyncio.run(_bench_live(url, drags, hz, opens))
        t1 = cpu_times()
    d = [b - a for a, b in zip(t0, t1)]
    res["cpu"] = {"idle": d[3] / sum(d), "steal": d[7] / sum(d)} if d and sum(d) else None
    res["yardstick"] = host_yardstick(ckpt)  # with the server and the browser closed
    return res


def bench_explorer(browser, ckpt: Path, moves: int, sessions: int, tmp: Path) -> dict:
    res: dict = {}
    log = tmp / "explorer.log"
    t0 = time.perf_counter()
    # server-side decoding: the measurements from before the live decoder, and its fallback today
    with streamlit_server(ROOT / "app.py", "--checkpoint", str(ckpt), log=log, env={"EXPLORER_LIVE": "0"}) as url:
        res["server_ready"] = time.perf_counter() - t0
        res["first_cold"] = first_faces(browser, url)
        res["first_warm"] = [first_faces(browser, url) for _ in range(5)]
        page = new_page(browser, url + "/?view=sliders")
        page.wait_for_selector(".st-key-slider_face img", timeout=60_000)
        settle(page)
        res["slider"] = slider_moves(page, ".st-key-slider_face img",
                                     ".st-key-top_sliders [data-testid=stSlider] input[type=range]", moves)
        page.close()
        res["concurrent"] = concurrent(browser, url, sessions)
        res["loads"] = log.read_text().count("[explorer] loaded checkpoint")
    return res


def concurrent(browser, url: str, sessions: int, rounds: int = 10) -> dict:
    """Open `sessions` pages on the sliders; in each round every page moves its slider at once."""
    face, slider = ".st-key-slider_face img", ".st-key-top_sliders [data-testid=stSlider] input[type=range]"
    pages = [new_page(browser, url + "/?view=sliders") for _ in range(sessions)]
    for p in pages:
        p.wait_for_selector(face, timeout=60_000)
        settle(p)
    times, errors = [], 0
    for r in range(rounds):
        for p in pages:
            p.evaluate(IMAGE_CHANGE_JS, face)
        for p in pages:
            p.locator(slider).nth(r % 4).focus()
            p.keyboard.press("ArrowRight")
        for p in pages:
            times.append(p.evaluate("window.__done"))
        for p in pages:
            errors += p.locator("[data-testid=stException]").count()
        time.sleep(0.2)
    for p in pages:
        p.close()
    return {"times": times, "errors": errors}


def bench_map(browser, ckpt: Path, tmp: Path, trials: int = 10) -> tuple[int, list[float], list[float]]:
    from explorer import load_checkpoint

    bundle = load_checkpoint(ckpt).bundle
    rows = len(bundle) if bundle is not None else 0
    if rows < 10_000:
        from test_app import make_checkpoint_file

        ckpt = make_checkpoint_file(tmp / "map12k.pt", n_rows=12_000, latent_dim=128, image_size=64)
        rows = 12_000
    with streamlit_server(ROOT / "app.py", "--checkpoint", str(ckpt), log=tmp / "map.log") as url:
        page = new_page(browser, url + "/?view=map")
        page.wait_for_selector(".js-plotly-plot canvas", timeout=60_000)
        settle(page)
        colour, proj = [], []
        box = page.locator(".st-key-map_color input")
        for i in range(trials):
            page.evaluate(MAP_CHANGE_JS)
            box.click()
            box.fill("Male" if i % 2 == 0 else "Smiling")
            page.keyboard.press("Enter")
            colour.append(page.evaluate("window.__done"))
            settle(page)
        for i in range(trials):
            page.evaluate(MAP_CHANGE_JS)
            page.locator(".st-key-map_proj button").nth((i + 1) % 2).click()
            proj.append(page.evaluate("window.__done"))
            settle(page)
        page.close()
    return rows, colour, proj


def host_yardstick(ckpt: Path, runs: int = 200) -> tuple[float, float]:
    """Milliseconds for one face decoded by ONNX Runtime in Python, on one thread and on its default
    threads (one per core), medians of `runs`: a yardstick of this host's speed, so that runs on different
    hosts (or on one shared host at different times) can be compared. Issue 9 measured 1.5 ms on its
    machine, without saying on how many threads, for the decoder as PyTorch's exporter writes it: so this
    exports it that way (`rewrite=False`), not the page's file, whose layers are rewritten for the browser."""
    import numpy as np
    import onnxruntime as ort

    from explorer.checkpoint import load_checkpoint
    from explorer.onnx_export import export_decoder

    vae = load_checkpoint(str(ckpt), device="cpu")
    z = np.zeros((1, vae.latent_dim), np.float32)
    logging.getLogger("torch.onnx").setLevel(logging.ERROR)  # the exporter's notes (no torchvision) in the table
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "decoder.onnx"
        if vae.source.kind == "ours":  # ours: the layers as PyTorch's exporter writes them (the host's yardstick)
            onnx_bytes = export_decoder(vae.model, vae.latent_dim, out, rewrite=False).read_bytes()
        else:  # another model: the decoder the page runs
            onnx_bytes = vae.browser_decoder(out).read_bytes()

    def median_ms(threads: int) -> float:
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads  # 0: ONNX Runtime's default
        sess = ort.InferenceSession(onnx_bytes, opts, providers=["CPUExecutionProvider"])
        times = []
        for i in range(runs + 20):
            t0 = time.perf_counter()
            sess.run(None, {sess.get_inputs()[0].name: z})
            if i >= 20:  # the first runs set up buffers
                times.append((time.perf_counter() - t0) * 1000)
        return statistics.median(times)

    return median_ms(1), median_ms(0)


def report_live(a, ckpt: Path, live: dict) -> None:
    load = os.getloadavg()
    cpu = live.get("cpu")
    during = (f"; while measuring, CPU time idle {cpu['idle']:.0%}, stolen by the host {cpu['steal']:.0%}" if cpu else "")
    print(f"\nmachine: {os.cpu_count()} cores, load average {load[0]:.1f} {load[1]:.1f} {load[2]:.1f}{during}; "
          f"checkpoint {ckpt}")
    one, default = live["yardstick"]
    print(f"host yardstick: one face decoded by ONNX Runtime in Python, median of 200: one thread {one:.2f} ms, "
          f"default threads {default:.2f} ms (issue 9's machine: 1.5 ms, threads not stated; there ONNX Runtime "
          f"Web took 4.6 ms on one thread)")
    med = statistics.median
    for which, name in ((0, "the traversed dimension (the strip's faces stay)"), (1, "another dimension (the strip is redrawn)")):
        r = live[which]
        print(f"live sliders, {name}: {a.drags} mouse drags, moves sent at {a.drag_hz:.0f} Hz, button held "
              f"({min(r['span']):.1f}-{max(r['span']):.1f} s each): distinct faces drawn per second median "
              f"{med(r['fps']):.1f} (min {min(r['fps']):.1f}); animation frames per second {med(r['frames_per_s']):.1f}, "
              f"of which showed a new face {med(r['shown']):.1f} (min {min(r['shown']):.1f}), got a new value "
              f"{med(r['moved']):.1f} and got a pointer move {med(r['pointed']):.1f}; input events per second {med(r['inputs_per_s']):.1f}; strips redrawn per second {med(r['strips']):.1f}"
              + (f" (one took {med(r['strip_ms']):.0f} ms)" if which else ""))
        print(f"live sliders, {name}: {a.drags} drags made in the page, one new value per animation frame for "
              f"1.5 s: distinct faces drawn per second median {med(r['raf_fps']):.1f} (min {min(r['raf_fps']):.1f}); "
              f"animation frames per second {med(r['raf_frames']):.1f}, of which showed a new face "
              f"{med(r['raf_shown']):.1f} (min {min(r['raf_shown']):.1f}); new slider values per second "
              f"{med(r['raf_inputs']):.1f}")
    lane, ms = live["lane"]
    where = "on the page's thread" if lane == "inline" else "in the worker only"
    print(f"live sliders: main faces decoded {where} (a face on the page's thread took {ms:.1f} ms, median of 3)")
    dec = live["decode"]
    print(f"live sliders: in-browser decode of one face median {med(dec):.1f} ms, "
          f"p95 {percentile(dec, 0.95):.1f} ms (n={len(dec)})")
    print(f"live sliders: page open -> first live face: first session {live['first'][0] / 1000:.2f} s, later "
          f"sessions median {med(live['first'][1:]) / 1000:.2f} s (all: "
          + ", ".join(f"{t / 1000:.2f}" for t in live["first"]) + ")")
    for name, t in (("first session", live["timing"][0]), ("last session", live["timing"][-1])):
        print(f"live sliders, {name}, ms since the page opened: runtime start begun at {t.get('start', 0):.0f} "
              f"(module {t.get('import', 0):.0f}, worker + wasm {t.get('warm', 0):.0f}); component mounted at "
              f"{t.get('mounted', 0):.0f}; decoder session {t.get('session', 0):.0f}; first face at "
              f"{t.get('firstFace', 0):.0f}")


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--checkpoint", default=str(ROOT / "checkpoints" / "celeba64.pt"))
    p.add_argument("--moves", type=int, default=30)
    p.add_argument("--sessions", type=int, default=8)
    p.add_argument("--drags", type=int, default=5, help="live sliders: drags to measure")
    p.add_argument("--drag-hz", type=float, default=125, help="live sliders: mouse moves sent per second")
    p.add_argument("--only-live", action="store_true", help="measure only the live sliders")
    a = p.parse_args(argv)
    ckpt = Path(a.checkpoint)
    if not ckpt.is_file():
        sys.exit(f"error: {ckpt} does not exist; pass --checkpoint PATH")
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
        tmp = Path(tmp)
        live = bench_live(ckpt, tmp, a.drags, a.drag_hz)
        if a.only_live:
            return report_live(a, ckpt, live)
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            trivial = bench_trivial(browser, a.moves, tmp)
            app = bench_explorer(browser, ckpt, a.moves, a.sessions, tmp)
            rows, colour, proj = bench_map(browser, ckpt, tmp)
            browser.close()
    report_live(a, ckpt, live)
    print(f"slider -> image   trivial app   {stats(trivial['slider'])}")
    print(f"slider -> image   explorer      {stats(app['slider'])}")
    print(f"server start -> answering: {app['server_ready']:.1f} s (imports torch, loads the model)")
    print(f"page open -> first faces: first session {app['first_cold'] / 1000:.2f} s, later sessions median "
          f"{statistics.median(app['first_warm']) / 1000:.2f} s; trivial app's first image median "
          f"{statistics.median(trivial['first']) / 1000:.2f} s")
    print(f"map, {rows:,} points: colouring   {stats(colour)}")
    print(f"map, {rows:,} points: projection  {stats(proj)}")
    c = app["concurrent"]
    print(f"{a.sessions} sessions at once: {stats(c['times'])}; errors {c['errors']}; model loaded {app['loads']}x")


if __name__ == "__main__":
    main()
