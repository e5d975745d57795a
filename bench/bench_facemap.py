"""Responsiveness of the map's Faces mode in a real browser (Playwright + Debian's Chromium).

    python bench/bench_facemap.py [--checkpoint checkpoints/celeba64.pt] [--points 12000] [--moves 40]

For the checkpoint's own bundle and for a synthetic bundle of --points points (64x64, 32-d), it measures:
  * the first time the faces are needed: decoding every encoding (or reading the disk cache), from the
    server's log line;
  * hover: pointer moved onto a point -> its face shown, timed inside the page from the pointermove
    event to the next animation frame (``stats.hoverMs`` in facemap.js), and from Playwright's
    mouse.move call until the page reports that face (this includes Playwright's round trip);
  * zoom: a wheel event -> the frame redrawn (dots, faces chosen afresh and drawn), and drag-pan steps,
    both from the input event to the end of drawing (``stats.inputMs``); and the drawing alone
    (``stats.drawMs``);
  * how many faces a frame shows.
Prints a Markdown table (median / p90 in milliseconds).
"""
from __future__ import annotations

import argparse
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests"), str(ROOT / "tests" / "ui")]  # test_app: make_checkpoint_file

from test_browser import CHROMIUM, CHROMIUM_ARGS, open_face_map, settle, streamlit_server  # noqa: E402
from test_browser_views import POINT  # noqa: E402

PICK = """(el, k) => { const m = el.__facemap, n = m.data.x.length, W = m.width, H = m.height, out = [];
  let s = 12345; const rnd = () => (s = (s * 1103515245 + 12345) % 2147483648) / 2147483648;
  while (out.length < k) { const i = Math.floor(rnd() * n); const x = m.px[2 * i], y = m.px[2 * i + 1];
    if (x > 40 && x < W - 40 && y > 40 && y < H - 40) out.push(i); }
  return out; }"""


def pct(xs, q):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(q * (len(xs) - 1))))]


def run(ckpt: Path, moves: int, log: Path) -> dict:
    from playwright.sync_api import sync_playwright

    out = {}
    with streamlit_server(ROOT / "app.py", "--checkpoint", str(ckpt), log=log, timeout=180) as url, \
            sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        fm = open_face_map(page, url, 1_800_000)
        settle(page, 120_000)
        h = fm.element_handle()
        out["points"] = fm.evaluate("el => el.__facemap.data.x.length")
        out["shown"] = fm.evaluate("el => el.__facemap.stats.shown")
        m = re.search(r"map faces for .*: ([\d,]+) (decoded|read from the disk cache) in ([\d.]+) s", log.read_text())
        out["prepare"] = f"{m.group(3)} s ({m.group(2)})" if m else "?"

        # hover
        wall = []
        fm.evaluate("el => { el.__facemap.stats.hoverMs.length = 0; }")
        for i in fm.evaluate(PICK, moves):
            pt = fm.evaluate(POINT, i)
            t = time.perf_counter()
            page.mouse.move(pt["x"], pt["y"])
            page.wait_for_function("([el, i]) => el.dataset.hover !== ''", arg=[h, i])
            wall.append((time.perf_counter() - t) * 1000)
            page.mouse.move(5, 5)  # leave the canvas, so the next move is a new hover
            page.wait_for_function("el => el.dataset.hover === '' || el.__facemap.hover === -1", arg=h)
        out["hover_page"] = fm.evaluate("el => el.__facemap.stats.hoverMs.slice()")
        out["hover_wall"] = wall

        # zoom: wheel in and out around the middle, one event per frame
        box = fm.bounding_box()
        cx, cy = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
        fm.evaluate("el => { el.__facemap.stats.inputMs.length = 0; el.__facemap.stats.drawMs.length = 0; }")
        page.mouse.move(cx, cy)
        shown = []
        for k in range(moves):
            n = fm.evaluate("el => el.__facemap.stats.draws")
            page.mouse.wheel(0, -120 if k < moves // 2 else 120)
            page.wait_for_function("([el, n]) => el.__facemap.stats.draws > n", arg=[h, n])
            shown.append(fm.evaluate("el => el.__facemap.stats.shown"))
        out["zoom"] = fm.evaluate("el => el.__facemap.stats.inputMs.slice()")
        out["draw"] = fm.evaluate("el => el.__facemap.stats.drawMs.slice()")
        out["shown_zoom"] = shown

        # pan: drag across the canvas in steps
        fm.evaluate("el => { el.__facemap.stats.inputMs.length = 0; }")
        page.mouse.move(cx, cy)
        page.mouse.down()
        for k in range(moves):
            n = fm.evaluate("el => el.__facemap.stats.draws")
            page.mouse.move(cx + 6 * (k + 1), cy + 3 * (k + 1))
            page.wait_for_function("([el, n]) => el.__facemap.stats.draws > n", arg=[h, n])
        page.mouse.up()
        out["pan"] = fm.evaluate("el => el.__facemap.stats.inputMs.slice()")
        browser.close()
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--checkpoint", default=str(ROOT / "checkpoints" / "celeba64.pt"))
    ap.add_argument("--points", type=int, default=12000)
    ap.add_argument("--moves", type=int, default=40)
    a = ap.parse_args()
    from test_app import make_checkpoint_file

    tmp = Path(tempfile.mkdtemp(prefix="bench_facemap_"))
    runs = {Path(a.checkpoint).name: Path(a.checkpoint)}
    if a.points:
        runs[f"synthetic {a.points:,}"] = make_checkpoint_file(tmp / "big.pt", n_rows=a.points, latent_dim=32,
                                                               image_size=64)
    rows = []
    for name, path in runs.items():
        r = run(path, a.moves, tmp / f"{path.stem}.log")
        f = lambda xs: f"{statistics.median(xs):.1f} / {pct(xs, 0.9):.1f}"  # noqa: E731
        rows.append((name, f"{r['points']:,}", r["prepare"], f(r["hover_page"]), f(r["hover_wall"]), f(r["zoom"]),
                     f(r["pan"]), f(r["draw"]), f"{r['shown']} (zoomed: {min(r['shown_zoom'])}–{max(r['shown_zoom'])})"))
    print("| bundle | points | faces ready (first time) | hover → face, in page | hover → face, from Playwright "
          "| wheel → redrawn | drag → redrawn | draw only | faces shown |")
    print("|---|---|---|---|---|---|---|---|---|")
    for row in rows:
        print("| " + " | ".join(row) + " |")
    print("\nmedian / p90 in ms;", a.moves, "moves each")


if __name__ == "__main__":
    main()
